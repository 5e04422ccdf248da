"""The descriptor cache against a real Redis: hits, stampedes, integrity, staleness, outages."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from gateway.errors import UpstreamBadResponse
from gateway.integrity import verify
from gateway.store import AnswerKind, KeySpace
from gateway.trs.models import Checksum
from tests.conftest import (
    DEMO_REGISTRY,
    GatewayFactory,
    RedisServer,
    free_port,
    wait_until_serving,
)
from tests.fakes import (
    FakeRegistry,
    FakeTool,
    make_registry_app,
    start_registry,
    write_static_tree,
)
from tests.samples import cwl_workflow_version, workflowhub_tools

WORKFLOW = "#workflow/github.com/org/cached"
GID = quote(f"dockstore:{WORKFLOW}", safe="")
PLAIN = f"/ga4gh/trs/v2/tools/{GID}/versions/main/PLAIN_CWL/descriptor"
WRAPPED = f"/ga4gh/trs/v2/tools/{GID}/versions/main/CWL/descriptor"


@pytest.fixture
async def dockstore(aiohttp_server: Any) -> tuple[FakeRegistry, dict[str, Any], Any]:
    tool = FakeTool(id=WORKFLOW, name="cached", versions=[cwl_workflow_version("main")])
    registry, url = await start_registry(aiohttp_server, "dockstore", [tool])
    return registry, {"name": "dockstore", "url": url, "flavor": "dockstore"}, url


def upstream_calls(registry: FakeRegistry) -> int:
    return registry.request_count("/CWL/descriptor")


async def test_repeated_descriptor_requests_do_not_reach_the_upstream(
    dockstore: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    registry, entry, _ = dockstore
    client = await gateway([entry], cache=cache_section)
    first = await client.get(PLAIN)
    assert first.status == 200 and first.headers["X-Cache"] == "MISS"
    body = await first.read()
    for _ in range(5):
        again = await client.get(PLAIN)
        assert again.headers["X-Cache"] == "HIT"
        assert again.headers["X-Cache-Source"] == "memory"
        assert await again.read() == body
    assert upstream_calls(registry) == 1


async def test_another_gateway_is_served_from_redis(
    dockstore: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    registry, entry, _ = dockstore
    one = await gateway([entry], cache=cache_section)
    two = await gateway([entry], cache=cache_section)
    assert (await one.get(WRAPPED)).headers["X-Cache"] == "MISS"
    answer = await two.get(WRAPPED)
    assert answer.headers["X-Cache"] == "HIT" and answer.headers["X-Cache-Source"] == "redis"
    assert upstream_calls(registry) == 1
    # Links inside the cached body are the requesting gateway's own.
    wrapper = await answer.json()
    assert wrapper["url"].startswith(str(two.make_url("/ga4gh/trs/v2/tools/")))


async def test_concurrent_cold_requests_make_one_upstream_request(
    dockstore: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    registry, entry, _ = dockstore
    registry.delay = 0.5
    client = await gateway([entry], cache=cache_section)
    answers = await asyncio.gather(*(client.get(PLAIN) for _ in range(50)))
    assert all(a.status == 200 for a in answers)
    assert upstream_calls(registry) == 1


async def test_two_gateway_processes_share_one_upstream_request(
    dockstore: Any, cache_section: dict[str, Any], tmp_path: Path
) -> None:
    """200 concurrent cold requests, 100 to each of two processes sharing Redis."""
    registry, entry, _ = dockstore
    registry.delay = 1.0
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({"upstreams": [entry], "cache": cache_section}))
    ports = [free_port(), free_port()]
    logs = [(tmp_path / f"gw{i}.log").open("wb") for i in range(2)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for port in ports:
                await wait_until_serving(session, port)
            before = upstream_calls(registry)
            answers = await asyncio.gather(
                *(
                    session.get(f"http://127.0.0.1:{port}{PLAIN}")
                    for port in ports
                    for _ in range(100)
                )
            )
            statuses = [a.status for a in answers]
            texts = {await a.text() for a in answers}
        assert statuses == [200] * 200
        assert len(texts) == 1
        assert upstream_calls(registry) - before == 1
    finally:
        for process in processes:
            process.terminate()
            await asyncio.wait_for(process.wait(), 20)
        for log in logs:
            log.close()


async def test_checksum_mismatch_is_an_upstream_error_and_never_cached(
    gateway: GatewayFactory, cache_section: dict[str, Any], tmp_path: Path
) -> None:
    tool = FakeTool(id="tool-1", name="t", versions=[cwl_workflow_version("1.0")])
    write_static_tree(tmp_path, [tool])
    descriptor = tmp_path / "tools" / "tool-1" / "versions" / "1.0" / "CWL" / "descriptor"
    wrapper_file = descriptor / "index.json"
    wrapper = json.loads(wrapper_file.read_text())
    good = wrapper["content"]
    wrapper["content"] = good + "# tampered\n"
    wrapper_file.write_text(json.dumps(wrapper))
    client = await gateway(
        [{"name": "s", "url": tmp_path.as_uri(), "flavor": "static"}], cache=cache_section
    )
    path = "/ga4gh/trs/v2/tools/s%3Atool-1/versions/1.0/PLAIN_CWL/descriptor"
    for _ in range(2):
        response = await client.get(path)
        assert response.status == 502
        body = await response.json()
        assert body["code"] == 502 and "checksum" in body["message"]
    wrapper["content"] = good
    wrapper_file.write_text(json.dumps(wrapper))
    repaired = await client.get(path)
    assert repaired.status == 200 and repaired.headers["X-Cache"] == "MISS"
    assert await repaired.text() == good


def test_checksums_in_every_spelling_are_checked() -> None:
    data = b"cwlVersion: v1.2\n"
    for kind, algo in [
        ("sha-256", "sha256"),
        ("SHA256", "sha256"),
        ("sha_1", "sha1"),
        ("md5", "md5"),
        ("sha-512", "sha512"),
    ]:
        right = Checksum(checksum=hashlib.new(algo, data).hexdigest(), type=kind)
        assert verify("u", "file", data, [right]) is True
        wrong = Checksum(checksum="0" * 64, type=kind)
        with pytest.raises(UpstreamBadResponse):
            verify("u", "file", data, [wrong])
    assert verify("u", "file", data, [Checksum(checksum="x", type="crc-unknown")]) is False


async def test_stale_entries_are_served_while_the_upstream_is_stopped(
    aiohttp_server: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    tool = FakeTool(id=WORKFLOW, name="cached", versions=[cwl_workflow_version("main")])
    registry = make_registry_app("dockstore", [tool])
    server = await aiohttp_server(registry.app)
    url = str(server.make_url(registry.base_path))
    entry = {"name": "dockstore", "url": url, "flavor": "dockstore", "timeout": 1}
    section = {
        **cache_section,
        "lifetimes": {"content": 0.3, "content_immutable": 0.3, "metadata": 0.3},
        "stale_while_revalidate": 0,
        "stale_if_error": 3600,
    }
    client = await gateway([entry], cache=section)
    fresh = await client.get(PLAIN)
    assert fresh.headers["X-Cache"] == "MISS"
    text = await fresh.text()
    await asyncio.sleep(0.5)
    await server.close()  # the upstream is gone: connections are refused
    stale = await client.get(PLAIN)
    assert stale.status == 200
    assert stale.headers["X-Cache"] == "STALE"
    assert int(stale.headers["Age"]) >= 0
    assert "max-age=0" in stale.headers["Cache-Control"]
    assert await stale.text() == text
    # Something never cached still fails cleanly.
    missing = await client.get(PLAIN.replace("/main/", "/other/"))
    assert missing.status == 502


async def test_stale_while_revalidate_serves_at_once_and_refreshes_in_background(
    dockstore: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    registry, entry, _ = dockstore
    section = {
        **cache_section,
        "lifetimes": {"content": 0.3, "content_immutable": 0.3},
        "stale_while_revalidate": 60,
    }
    client = await gateway([entry], cache=section)
    await client.get(PLAIN)
    await asyncio.sleep(0.5)
    registry.delay = 0.3
    stale = await client.get(PLAIN)
    assert stale.headers["X-Cache"] == "STALE"
    for _ in range(100):
        if upstream_calls(registry) == 2:
            break
        await asyncio.sleep(0.05)
    assert upstream_calls(registry) == 2
    await asyncio.sleep(0.4)
    assert (await client.get(PLAIN)).headers["X-Cache"] == "HIT"


async def test_etag_and_if_none_match(
    dockstore: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    _, entry, _ = dockstore
    client = await gateway([entry], cache=cache_section)
    first = await client.get(WRAPPED)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "max-age=" in first.headers["Cache-Control"]
    again = await client.get(WRAPPED, headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == etag
    other_base = await client.get(WRAPPED.replace("/ga4gh/trs/v2", "/api/ga4gh/v2"))
    assert other_base.headers["ETag"] != etag, "bodies differ by base path, so must ETags"
    changed = await client.get(WRAPPED, headers={"If-None-Match": '"nope"'})
    assert changed.status == 200


async def test_redis_outage_keeps_requests_succeeding_and_health_reports_it(
    dockstore: Any, gateway: GatewayFactory, private_redis: RedisServer
) -> None:
    _registry, entry, _ = dockstore
    client = await gateway([entry], cache={"redis_url": private_redis.url, "redis_timeout": 2})
    assert (await (await client.get("/health/ready")).json())["redis"]["status"] == "ok"
    assert (await client.get(PLAIN)).status == 200
    private_redis.stop()
    for _ in range(3):
        assert (await client.get(PLAIN)).status == 200
    other = await client.get(WRAPPED)
    assert other.status == 200, "a cold key is filled from the upstream without Redis"
    ready = await client.get("/health/ready")
    report = await ready.json()
    assert ready.status == 200
    assert report["status"] == "degraded"
    assert report["redis"]["status"] == "degraded" and report["redis"]["last_error"]
    assert (await client.get("/health")).status == 200
    private_redis.start()
    for _ in range(100):
        report = await (await client.get("/health/ready")).json()
        if report["redis"]["status"] == "ok":
            break
        await asyncio.sleep(0.1)
    assert report["redis"]["status"] == "ok", "the gateway reconnects by itself"


async def test_redis_down_from_the_start_does_not_stop_the_gateway(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    client = await gateway([demo_upstream], cache={"redis_url": dead, "redis_timeout": 0.2})
    path = "/ga4gh/trs/v2/tools/demo%3Ademo-cwl-md5sum/versions/1.0.0/PLAIN_CWL/descriptor"
    assert (await client.get(path)).status == 200
    assert (await client.get(path)).headers["X-Cache"] == "HIT"
    report = await (await client.get("/health/ready")).json()
    assert report["redis"]["status"] == "degraded"


async def test_partial_listings_are_not_cached(
    aiohttp_server: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    tool = FakeTool(id=WORKFLOW, name="cached", versions=[cwl_workflow_version("main")])
    registry, url = await start_registry(aiohttp_server, "dockstore", [tool], mode="error500")
    client = await gateway(
        [
            {"name": "dockstore", "url": url, "flavor": "dockstore"},
            {"name": "demo", "url": DEMO_REGISTRY.as_uri(), "flavor": "static"},
        ],
        cache=cache_section,
    )
    first = await client.get("/ga4gh/trs/v2/tools")
    assert "X-TRS-Gateway-Missing" in first.headers
    registry.mode = "ok"
    second = await client.get("/ga4gh/trs/v2/tools")
    assert "X-TRS-Gateway-Missing" not in second.headers
    assert f"dockstore:{WORKFLOW}" in {t["id"] for t in await second.json()}
    third = await client.get("/ga4gh/trs/v2/tools")
    assert third.headers["X-Cache"] == "HIT"


def test_key_schema_scopes_purges_exactly() -> None:
    keys = KeySpace("p")
    a = keys.answer(AnswerKind.DESCRIPTOR, "dock", "#workflow/x:y", "main", "CWL", "a/b.cwl")
    b = keys.answer(AnswerKind.DESCRIPTOR, "dock2", "#workflow/x:y", "main", "CWL", None)
    assert a.startswith("p:v1:c:descriptor:dock:%23workflow%2Fx%3Ay:main:CWL:")
    assert keys.matches(a, "dock") and not keys.matches(b, "dock")
    assert keys.matches(a, "dock", "#workflow/x:y") and not keys.matches(a, "dock", "#workflow/x")
    assert keys.pattern("dock", "#workflow/x:y") == "p:v1:c:*:dock:%23workflow%2Fx%3Ay:*"


async def test_lifetimes_follow_checksums_and_production_flags(
    aiohttp_server: Any, gateway: GatewayFactory, dockstore: Any
) -> None:
    _, dock_entry, _ = dockstore
    hub, hub_url = await start_registry(aiohttp_server, "workflowhub", workflowhub_tools(1))
    client = await gateway(
        [dock_entry, {"name": "hub", "url": hub_url, "flavor": "workflowhub"}],
        cache={"lifetimes": {"content": 100, "content_immutable": 100000}},
    )
    checksummed = await client.get(PLAIN)
    assert max_age(checksummed) > 99000, "checksummed content gets the immutable lifetime"
    base = "/ga4gh/trs/v2/tools/hub%3A100/versions/1"
    for path in (
        f"{base}/GALAXY/descriptor",
        f"{base}/PLAIN_GALAXY/descriptor",
        f"{base}/GALAXY/files",
    ):
        answer = await client.get(path)
        assert answer.status == 200
        assert 0 < max_age(answer) <= 100, "no checksums and not production: short lifetime"
    version_requests = [r for r in hub.requests if r.path.endswith("/versions/1")]
    assert len(version_requests) == 1, "is_production is looked up once, through the cache"


def max_age(response: Any) -> int:
    return int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0])


async def test_a_burst_of_cold_requests_reads_redis_once_and_fills_once(
    dockstore: Any, gateway: GatewayFactory, private_redis: Any
) -> None:
    """500 concurrent requests for one cold key: the Redis reads are coalesced, so the
    burst needs a handful of Redis commands, not one per request, and never looks
    like Redis failing (which would turn off the cross-process fill lock)."""
    import redis as sync_redis

    registry, entry, _ = dockstore
    registry.delay = 0.5
    client = await gateway(
        [entry],
        cache={"redis_url": private_redis.url, "redis_pool_size": 8},
        health={"probe_interval": 3600},
    )
    with sync_redis.Redis.from_url(private_redis.url) as admin:
        admin.config_resetstat()
        before = upstream_calls(registry)
        answers = await asyncio.gather(*(client.get(PLAIN) for _ in range(500)))
        assert [a.status for a in answers] == [200] * 500
        stats = admin.info("commandstats")
    assert upstream_calls(registry) - before == 1
    gets = stats.get("cmdstat_get", {}).get("calls", 0)
    assert 1 <= gets <= 5, stats
    ready = await (await client.get("/health/ready")).json()
    assert ready["redis"]["status"] == "ok"
