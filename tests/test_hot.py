"""Hot answers: a repeated request is sent the full path's bytes again, for exactly as long
as the full path would send them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from gateway.app import CACHE, HOT, IDENTITY, RUNTIME, create_app
from gateway.commands.cache import purge, purge_target
from gateway.federation.core import build_federation
from gateway.ops.logs import ACCESS_LOG
from tests.conftest import GatewayFactory, make_config
from tests.fakes import FakeRegistry, FakeTool, ServerFactory, start_registry
from tests.samples import cwl_workflow_version

BASE = "/ga4gh/trs/v2"
TOOL = f"{BASE}/tools/{quote('up:wf', safe='')}"
PLAIN = f"{TOOL}/versions/1.0/PLAIN_CWL/descriptor"
NEGOTIATED = f"{TOOL}/versions/1.0/CWL/descriptor"
PER_REQUEST = {"X-Request-ID", "Date", "X-Cache", "Age", "Cache-Control"}


@pytest.fixture
async def upstream(aiohttp_server: ServerFactory) -> tuple[FakeRegistry, dict[str, Any]]:
    tool = FakeTool(id="wf", name="wf", versions=[cwl_workflow_version("1.0")])
    registry, url = await start_registry(aiohttp_server, "generic", [tool])
    return registry, {"name": "up", "url": url}


def hits(client: TestClient[Any, Any]) -> int:
    return client.app[HOT].hits  # type: ignore[index]


async def fetch(
    client: TestClient[Any, Any], path: str, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    response = await client.get(path, headers=headers)
    return response.status, CIMultiDict(response.headers), await response.read()


async def made_hot(
    gateway: GatewayFactory, entry: dict[str, Any], path: str, **sections: Any
) -> TestClient[Any, Any]:
    """A gateway that has answered ``path`` twice, the second time as a hot answer."""
    client = await gateway([entry], **sections)
    await fetch(client, path)
    await fetch(client, path)
    assert hits(client) == 1
    return client


async def test_a_repeated_request_gets_the_full_paths_bytes_and_headers_from_the_hot_path(
    upstream: Any, gateway: GatewayFactory
) -> None:
    registry, entry = upstream
    client = await gateway([entry])
    status, first, body = await fetch(client, NEGOTIATED)
    assert status == 200 and first["X-Cache"] == "MISS" and hits(client) == 0
    # Another host: the full path answers from memory (links are made for each host).
    _, full, full_body = await fetch(client, NEGOTIATED, Host="other.example")
    assert full["X-Cache"] == "HIT" and hits(client) == 0
    _, hot, hot_body = await fetch(client, NEGOTIATED, Host="other.example")
    assert hits(client) == 1
    assert hot_body == full_body and b"other.example" in hot_body and body != hot_body
    same = {k: v for k, v in full.items() if k not in PER_REQUEST}
    assert {k: v for k, v in hot.items() if k not in PER_REQUEST} == same
    assert hot["X-Cache"] == "HIT" and hot["X-Cache-Source"] == "memory"
    assert hot["Vary"] == "Accept" and hot["Access-Control-Allow-Origin"] == "*"
    assert hot["Cache-Control"].startswith("public, max-age=")
    assert hot["X-Request-ID"] != full["X-Request-ID"]
    assert registry.request_count("/descriptor") == 1


async def test_each_representation_and_origin_is_its_own_hot_answer(
    upstream: Any, gateway: GatewayFactory
) -> None:
    _, entry = upstream
    client = await gateway([entry], server={"cors_origins": ["https://a.example"]})
    for _ in range(3):
        _, json_headers, wrapped = await fetch(client, NEGOTIATED, Origin="https://a.example")
        _, plain_headers, plain = await fetch(
            client, NEGOTIATED, Accept="text/plain", Origin="https://b.example"
        )
        assert wrapped.startswith(b"{") and not plain.startswith(b"{")
        assert json_headers["Access-Control-Allow-Origin"] == "https://a.example"
        assert "Access-Control-Allow-Origin" not in plain_headers
    assert hits(client) == 4


async def test_if_none_match_on_a_hot_answer_is_304(upstream: Any, gateway: GatewayFactory) -> None:
    _, entry = upstream
    client = await gateway([entry])
    _, headers, _ = await fetch(client, PLAIN)
    status, again, body = await fetch(client, PLAIN, **{"If-None-Match": headers["ETag"]})
    assert (status, body, hits(client)) == (304, b"", 1)
    assert again["ETag"] == headers["ETag"] and "Content-Type" not in again
    status, _, body = await fetch(client, PLAIN, **{"If-None-Match": '"other"'})
    assert status == 200 and body and hits(client) == 2


async def test_a_purge_ends_a_hot_answer(upstream: Any, gateway: GatewayFactory) -> None:
    registry, entry = upstream
    client = await made_hot(gateway, entry, PLAIN)
    client.app[CACHE].drop_local(upstream="up")  # type: ignore[index]
    _, headers, _ = await fetch(client, PLAIN)
    assert headers["X-Cache"] == "MISS" and hits(client) == 1
    assert registry.request_count("/descriptor") == 2


async def test_a_stale_entry_goes_the_full_path_and_is_refreshed(
    upstream: Any, gateway: GatewayFactory
) -> None:
    registry, entry = upstream
    client = await gateway([entry], cache={"lifetimes": {"content": 1, "content_immutable": 1}})
    await fetch(client, PLAIN)
    _, headers, _ = await fetch(client, PLAIN)
    assert hits(client) == 1 and headers["Cache-Control"].startswith("public, max-age=")
    await asyncio.sleep(1.1)
    _, headers, _ = await fetch(client, PLAIN)
    assert headers["X-Cache"] == "STALE" and hits(client) == 1
    for _ in range(100):  # the background refresh
        if registry.request_count("/descriptor") == 2:
            break
        await asyncio.sleep(0.02)
    assert registry.request_count("/descriptor") == 2


async def test_a_new_generation_ends_every_hot_answer(
    upstream: Any, gateway: GatewayFactory
) -> None:
    _, entry = upstream
    client = await made_hot(gateway, entry, PLAIN)
    runtime = client.app[RUNTIME]  # type: ignore[index]
    old = runtime.install(build_federation(runtime.config, client.app[IDENTITY]))  # type: ignore[index]
    assert old is not None
    await old.federation.close()
    _, headers, _ = await fetch(client, PLAIN)
    assert headers["X-Cache"] == "HIT" and hits(client) == 1
    await fetch(client, PLAIN)
    assert hits(client) == 2


async def test_tool_answers_follow_the_identity_index(
    upstream: Any, gateway: GatewayFactory
) -> None:
    _, entry = upstream
    client = await gateway([entry])
    await fetch(client, TOOL)
    _, _, body = await fetch(client, TOOL)
    assert hits(client) == 1 and b"doi:10.1234/twin" not in body
    client.app[IDENTITY].record("up:wf", {"doi:10.1234/twin"})  # type: ignore[index]
    _, _, body = await fetch(client, TOOL)
    assert b"doi:10.1234/twin" in body and hits(client) == 1
    _, _, again = await fetch(client, TOOL)
    assert again == body and hits(client) == 2


async def test_bearer_tokens_are_checked_on_hot_answers(
    upstream: Any, gateway: GatewayFactory
) -> None:
    _, entry = upstream
    client = await gateway([entry], server={"access": {"tokens": ["letmein-123"]}})
    good = {"Authorization": "Bearer letmein-123"}
    assert (await fetch(client, PLAIN, **good))[0] == 200
    assert (await fetch(client, PLAIN, **good))[0] == 200
    assert hits(client) == 1
    for bad in ({}, {"Authorization": "Bearer wrong-token"}):
        status, headers, _ = await fetch(client, PLAIN, **bad)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert hits(client) == 1


async def test_rate_limited_gateways_never_answer_hot(
    upstream: Any, gateway: GatewayFactory
) -> None:
    _, entry = upstream
    client = await gateway([entry], server={"rate_limit": {"per_second": 1, "burst": 3}})
    statuses = [(await fetch(client, PLAIN))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429] and hits(client) == 0


async def test_without_an_in_process_tier_hot_answers_are_checked_against_redis(
    upstream: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    registry, entry = upstream
    cache = {**cache_section, "memory_entries": 0}
    client = await gateway([entry], cache=cache)
    first = await fetch(client, PLAIN)
    assert first[1]["X-Cache"] == "MISS"
    answers = await asyncio.gather(*(fetch(client, PLAIN) for _ in range(20)))
    assert hits(client) == 20
    assert {h["X-Cache-Source"] for _, h, _ in answers} == {"redis"}
    assert {b for _, _, b in answers} == {first[2]}
    config = make_config([entry], cache=cache)
    deleted = await purge(config, purge_target(config, "up", None))
    assert deleted >= 1
    _, headers, body = await fetch(client, PLAIN)
    assert headers["X-Cache"] == "MISS" and body == first[2] and hits(client) == 20
    assert registry.request_count("/descriptor") == 2


async def test_hot_answers_are_counted_and_logged_as_every_request_is(
    upstream: Any, gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _, entry = upstream
    caplog.set_level(logging.INFO, logger=ACCESS_LOG)
    client = await made_hot(gateway, entry, PLAIN)
    _, headers, _ = await fetch(client, PLAIN, **{"X-Request-ID": "client-chosen-id"})
    assert hits(client) == 2 and headers["X-Request-ID"] == "client-chosen-id"
    lines = [r for r in caplog.records if r.name == ACCESS_LOG]
    assert [r.__dict__["cache"] for r in lines] == ["MISS", "HIT", "HIT"]
    route = "/ga4gh/trs/v2/tools/{id}/versions/{version_id}/{type}/descriptor"
    assert {r.__dict__["route"] for r in lines} == {route}
    assert lines[-1].__dict__["request_id"] == "client-chosen-id"
    assert lines[-1].__dict__["bytes"] == lines[0].__dict__["bytes"] > 0
    metrics = (await (await client.get("/metrics")).read()).decode()
    assert f'trs_gateway_http_requests_total{{method="GET",route="{route}",status="200"}} 3.0' in (
        metrics
    )


async def test_without_the_front_door_every_request_takes_the_full_path(
    upstream: Any, aiohttp_client: Any
) -> None:
    registry, entry = upstream
    client = await aiohttp_client(create_app(make_config([entry])))
    _, _, first = await fetch(client, PLAIN)
    _, headers, again = await fetch(client, PLAIN)
    _, _, third = await fetch(client, PLAIN)
    assert first == again == third and headers["X-Cache"] == "HIT"
    assert hits(client) == 0 and registry.request_count("/descriptor") == 1
