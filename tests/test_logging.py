"""Logs: one JSON access line per request, request ids end to end, secrets never written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from typing import Any

import pytest

from gateway.ops.logs import (
    ACCESS_FLUSH,
    ACCESS_LOG,
    AccessLine,
    GatewayLogHandler,
    JsonFormatter,
    Redactor,
    TextFormatter,
    access_writer,
    secrets_of,
)
from tests.conftest import GatewayFactory, free_port, make_config
from tests.fakes import FakeTool, ServerFactory, start_registry
from tests.samples import cwl_workflow_version

TOKEN = "tok-5ecret-0f-the-upstream"
HEADER_SECRET = "hdr-5ecret-api-key"
NO_HARVEST = {"harvest": {"enabled": False}}


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.access"]


async def test_tokens_appear_in_no_log_record(
    aiohttp_server: ServerFactory, gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tool = FakeTool(id="wf", name="wf", versions=[cwl_workflow_version("1.0")])
    good, good_url = await start_registry(aiohttp_server, "generic", [tool])
    failing, failing_url = await start_registry(aiohttp_server, "generic", [], mode="html")
    auth = {"bearer_token": TOKEN, "headers": {"X-Api-Key": HEADER_SECRET}}
    upstreams = [
        {"name": "good", "url": good_url, "auth": auth},
        {"name": "failing", "url": failing_url, "auth": auth},
        {"name": "refused", "url": f"http://127.0.0.1:{free_port()}/trs", "auth": auth},
    ]
    client = await gateway(
        upstreams, federation={"circuit_failures": 100}, logging={"level": "debug"}
    )
    paths = [
        "/ga4gh/trs/v2/tools",
        "/ga4gh/trs/v2/tools/good%3Awf/versions/1.0/PLAIN_CWL/descriptor",
        "/ga4gh/trs/v2/tools/failing%3Awf",
        "/ga4gh/trs/v2/tools/refused%3Awf",
        "/ga4gh/trs/v2/tools/nobody-has-this",
        "/ga4gh/trs/v2/tools",
    ]
    statuses = [
        (await client.get(p, headers={"Authorization": f"Bearer {TOKEN}"})).status for p in paths
    ]
    assert statuses[:5] == [200, 200, 502, 502, 502]
    # The secrets did travel, to their upstream only.
    assert good.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert failing.requests[-1].headers["X-Api-Key"] == HEADER_SECRET

    assert caplog.records, "something was logged"
    config = make_config(upstreams)
    formatters = [JsonFormatter(Redactor(secrets_of(config))), TextFormatter(Redactor())]
    for record in caplog.records:
        for text in (record.getMessage(), *(f.format(record) for f in formatters)):
            assert TOKEN not in text and HEADER_SECRET not in text, text
        for value in vars(record).values():
            assert TOKEN not in str(value) and HEADER_SECRET not in str(value)
    assert len(access_records(caplog)) == len(paths)


async def test_one_access_line_per_request_with_its_fields(
    gateway: GatewayFactory, demo_upstream: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = await gateway([demo_upstream], identity=NO_HARVEST)
    path = "/ga4gh/trs/v2/tools/demo%3Ademo-cwl-md5sum/versions/1.0.0/PLAIN_CWL/descriptor"
    first = await client.get(path, headers={"User-Agent": "cwltool/3.1"})
    second = await client.get(path + "?x=1")
    missing = await client.get("/nowhere")
    assert [first.status, second.status, missing.status] == [200, 200, 404]
    lines = access_records(caplog)
    assert len(lines) == 3
    one, two, three = (vars(r) for r in lines)
    sent = first.url.raw_path  # the client sends ':' unencoded
    assert one["method"] == "GET" and one["path"] == sent and one["status"] == 200
    assert one["route"].endswith("/{type}/descriptor") and one["user_agent"] == "cwltool/3.1"
    assert one["cache"] == "MISS" and two["cache"] == "HIT" and two["query"] == "x=1"
    assert one["bytes"] == len(await first.read()) and one["duration_ms"] >= 0
    assert one["remote"] == "127.0.0.1"
    assert one["request_id"] == first.headers["X-Request-ID"]
    assert three["status"] == 404 and three["route"] == "unmatched" and three["cache"] is None
    line = json.loads(JsonFormatter(Redactor()).format(lines[0]))
    assert line["logger"] == "gateway.access" and line["level"] == "info"
    assert line["message"] == f"GET {sent} 200" and line["status"] == 200
    assert line["ts"].endswith("Z") and line["request_id"] == one["request_id"]


async def test_request_ids_are_kept_or_made_and_sent_upstream(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    tool = FakeTool(id="wf", name="wf", versions=[cwl_workflow_version("1.0")])
    registry, url = await start_registry(aiohttp_server, "generic", [tool])
    client = await gateway([{"name": "up", "url": url}], identity=NO_HARVEST)
    given = await client.get("/ga4gh/trs/v2/tools/up%3Awf", headers={"X-Request-ID": "req-42.a:b"})
    assert given.headers["X-Request-ID"] == "req-42.a:b"
    assert registry.requests[-1].headers["X-Request-ID"] == "req-42.a:b"
    for bad in ("has spaces", "x" * 200, "<script>"):
        response = await client.get("/ga4gh/trs/v2/toolClasses", headers={"X-Request-ID": bad})
        made = response.headers["X-Request-ID"]
        assert made != bad and len(made) == 32
    assert "X-Request-ID" in given.headers["Access-Control-Expose-Headers"]


def test_redactor_removes_secrets_and_credentials() -> None:
    redactor = Redactor({"s3cret-value"})
    assert "s3cret-value" not in redactor.scrub("token is s3cret-value.")
    scrubbed = redactor.scrub("headers: {'Authorization': 'Bearer abc.def', 'Accept': 'x'}")
    assert "abc.def" not in scrubbed and "'Accept': 'x'" in scrubbed
    assert "hunter2" not in redactor.scrub("Authorization: Basic hunter2")
    assert "pw" not in redactor.scrub("redis://user:pw@redis:6379/0").split("@")[0].split(":")[-1]
    assert redactor.scrub("an ordinary line") == "an ordinary line"


def test_secrets_of_a_configuration() -> None:
    config = make_config(
        [
            {
                "name": "a",
                "url": "https://a.example/trs",
                "auth": {"bearer_token": "bearer-1", "headers": {"X-Key": "key-2"}},
            }
        ],
        federation={"cursor_secret": "cursor-3"},
        cache={"redis_url": "redis://:redispass@redis:6379/0"},
    )
    assert secrets_of(config) == {"bearer-1", "key-2", "cursor-3", "redispass"}


async def test_access_lines_are_batched_scrubbed_and_kept_in_order() -> None:
    handler = GatewayLogHandler()
    stream = io.StringIO()
    handler.setStream(stream)
    handler.redactor.learn({"s3cret-in-a-path"})
    handler.setFormatter(JsonFormatter(handler.redactor))
    secret = AccessLine.of("GET", "/x/s3cret-in-a-path", "/x/{p}", 200, 10, "HIT")
    plain = AccessLine.of("GET", "/y?q=1", "/y", 200, 10, "HIT")
    handler.access(secret, 0.001, "127.0.0.1", "curl/8", "r1")
    handler.access(plain, 0.002, None, None, "r2")
    assert stream.getvalue() == "", "access lines wait for their batch"
    await asyncio.sleep(ACCESS_FLUSH * 2)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["r1", "r2"]
    assert lines[0]["path"] == "/x/[redacted]" and "s3cret" not in stream.getvalue()
    assert lines[0]["logger"] == "gateway.access" and lines[0]["ts"].endswith("Z")
    assert lines[1] == {
        "ts": lines[1]["ts"], "level": "info", "logger": "gateway.access",
        "message": "GET /y?q=1 200", "pid": os.getpid(), "method": "GET", "path": "/y",
        "query": "q=1", "route": "/y", "status": 200, "bytes": 10, "cache": "HIT",
        "duration_ms": 2.0, "remote": None, "user_agent": None, "request_id": "r2",
    }  # fmt: skip

    handler.access(plain, 0.003, "127.0.0.1", None, "r3")
    record = logging.makeLogRecord({"name": "gateway.x", "levelno": 30, "msg": "later"})
    handler.handle(record)  # another line: the waiting access line is written first
    after = [json.loads(line) for line in stream.getvalue().splitlines()][2:]
    assert [a.get("request_id", a["message"]) for a in after] == ["r3", "later"]


async def test_access_lines_go_through_logging_when_another_handler_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = logging.getLogger()
    ours = GatewayLogHandler()
    ours.setStream(io.StringIO())
    ours.setFormatter(JsonFormatter(ours.redactor))
    saved, level = root.handlers[:], root.level
    root.handlers = [ours]
    root.setLevel(logging.INFO)
    try:
        assert access_writer() is ours
        root.addHandler(caplog.handler)
        assert access_writer() is None
        root.removeHandler(caplog.handler)
        logging.getLogger(ACCESS_LOG).setLevel(logging.WARNING)
        assert access_writer() is None, "an access logger quieted by an operator stays quiet"
    finally:
        logging.getLogger(ACCESS_LOG).setLevel(logging.NOTSET)
        root.handlers = saved
        root.setLevel(level)
