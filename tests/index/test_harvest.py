"""The harvester and the shared identity index, against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from gateway.app import HARVESTER, IDENTITY
from gateway.index import Progress
from gateway.store import KeySpace
from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, FakeVersion, start_registry

BASE = "/ga4gh/trs/v2"
FILER_TOOLS = 12


def filer_tools() -> list[FakeTool]:
    return [
        FakeTool(
            id=f"T{i:02d}",
            aliases=[f"https://doi.org/10.5281/zenodo.{900 + i}"],
            versions=[FakeVersion(name="1", id="1")],
        )
        for i in range(FILER_TOOLS)
    ]


def hub_tools() -> list[FakeTool]:
    # The last tool of the other registry, by DOI (in Dockstore's spelling).
    return [
        FakeTool(
            id="twin",
            aliases=[f"10.5281-zenodo.{900 + FILER_TOOLS - 1}"],
            versions=[FakeVersion(name="1", id="1")],
        )
    ]


async def eventually(check: Callable[[], bool], what: str, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.time() + within
    while loop.time() < stop:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def progress(client: TestClient[Any, Any], name: str) -> Progress:
    return client.server.app[HARVESTER].progress[name]


def index_size(client: TestClient[Any, Any]) -> int:
    return len(client.server.app[IDENTITY].index)


async def start_two_registries(aiohttp_server: Any) -> tuple[Any, list[dict[str, Any]]]:
    filer, filer_url = await start_registry(aiohttp_server, "generic", filer_tools())
    _, hub_url = await start_registry(aiohttp_server, "generic", hub_tools())
    return filer, [
        {"name": "filer", "url": filer_url, "flavor": "generic"},
        {"name": "hub", "url": hub_url, "flavor": "generic"},
    ]


def listing_offsets(registry: Any) -> list[int]:
    return [int(r.query.get("offset", 0)) for r in registry.requests if r.path.endswith("/tools")]


async def test_interrupted_harvest_resumes_where_it_stopped(
    gateway: GatewayFactory, aiohttp_server: Any, cache_section: dict[str, Any]
) -> None:
    filer, upstreams = await start_two_registries(aiohttp_server)
    slow = {"harvest": {"enabled": True, "page_size": 2, "pause": 0.3}}
    first = await gateway(upstreams, cache=cache_section, identity=slow)
    await eventually(lambda: progress(first, "filer").position >= 4, "4 tools are read")
    await first.close()  # shutdown mid-walk

    keys = KeySpace(cache_section["key_prefix"])
    client = aioredis.Redis.from_url(cache_section["redis_url"])
    stored = await client.hgetall(keys.harvest("filer"))
    saved = Progress.from_stored({k.decode(): v.decode() for k, v in stored.items()})
    stored_tools = await client.hlen(keys.identity_tools)
    await client.aclose()
    assert 4 <= saved.position < FILER_TOOLS
    assert stored_tools >= saved.position  # what was read is in the shared index

    before = len(listing_offsets(filer))
    fast = {"harvest": {"enabled": True, "page_size": 2, "pause": 0}}
    second = await gateway(upstreams, cache=cache_section, identity=fast)
    await eventually(lambda: progress(second, "filer").walks >= 1, "the walk completes")
    resumed = listing_offsets(filer)[before:]
    assert resumed[0] == saved.position  # not from the start
    assert index_size(second) == FILER_TOOLS + 1
    # The tool read before the restart and the one read after are twins.
    tool = await (await second.get(f"{BASE}/tools/hub:twin")).json()
    assert f"filer:T{FILER_TOOLS - 1:02d}" in tool["aliases"]


async def test_replicas_share_one_harvest_and_one_index(
    gateway: GatewayFactory, aiohttp_server: Any, cache_section: dict[str, Any]
) -> None:
    filer, upstreams = await start_two_registries(aiohttp_server)
    harvest = {"harvest": {"enabled": True, "page_size": 3, "pause": 0}}
    one = await gateway(upstreams, cache=cache_section, identity=harvest)
    two = await gateway(upstreams, cache=cache_section, identity=harvest)

    def both_done() -> bool:
        return all(
            any(progress(c, name).walks >= 1 for c in (one, two)) for name in ("filer", "hub")
        )

    await eventually(both_done, "each upstream is walked by one of the replicas")
    await eventually(lambda: index_size(one) == index_size(two) == FILER_TOOLS + 1, "in sync")
    # One walk of 12 tools in pages of 3, not one per replica.
    assert len(listing_offsets(filer)) <= FILER_TOOLS // 3 + 1
    # The walk count is shared: a replica that has read it since says 1, one that has not, 0.
    assert max(progress(c, "filer").walks for c in (one, two)) == 1

    # A replica that never read a tool itself still names its twins.
    for client in (one, two):
        tool = await (await client.get(f"{BASE}/tools/hub:twin")).json()
        assert f"filer:T{FILER_TOOLS - 1:02d}" in tool["aliases"]


async def test_index_is_loaded_from_redis_by_a_fresh_gateway(
    gateway: GatewayFactory, aiohttp_server: Any, cache_section: dict[str, Any]
) -> None:
    _, upstreams = await start_two_registries(aiohttp_server)
    harvester = await gateway(
        upstreams, cache=cache_section, identity={"harvest": {"enabled": True, "pause": 0}}
    )
    await eventually(lambda: progress(harvester, "filer").walks >= 1, "harvested")
    await eventually(lambda: progress(harvester, "hub").walks >= 1, "harvested")
    await harvester.close()

    fresh = await gateway(upstreams, cache=cache_section)  # harvest off
    assert index_size(fresh) == FILER_TOOLS + 1
    found = await (
        await fresh.get(
            f"{BASE}/tools", params={"alias": f"10.5281/zenodo.{900 + FILER_TOOLS - 1}"}
        )
    ).json()
    assert {t["id"] for t in found} == {"hub:twin", f"filer:T{FILER_TOOLS - 1:02d}"}


async def test_harvest_forgets_tools_an_upstream_dropped(
    gateway: GatewayFactory, aiohttp_server: Any
) -> None:
    tools = filer_tools()
    registry, url = await start_registry(aiohttp_server, "generic", tools)
    client = await gateway(
        [{"name": "filer", "url": url, "flavor": "generic"}],
        identity={"harvest": {"enabled": True, "pause": 0, "interval": 0.2}},
    )
    await eventually(lambda: progress(client, "filer").walks >= 1, "harvested")
    assert index_size(client) == FILER_TOOLS
    del tools[3:]  # the fake serves the list it was given
    await eventually(lambda: index_size(client) == 3, "the dropped tools are forgotten")
    assert registry.request_count("/tools") >= 2


async def test_failing_upstream_is_retried_and_reported(
    gateway: GatewayFactory, aiohttp_server: Any
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", filer_tools())
    registry.mode = "error500"
    client = await gateway(
        [{"name": "filer", "url": url, "flavor": "generic"}],
        identity={"harvest": {"enabled": True, "pause": 0}},
    )
    await eventually(lambda: progress(client, "filer").state == "failing", "the failure shows")
    assert "HTTP 500" in (progress(client, "filer").last_error or "")
    assert index_size(client) == 0


async def test_corrupt_saved_progress_reports_failing_with_the_error_and_is_retried(
    gateway: GatewayFactory, aiohttp_server: Any, cache_section: dict[str, Any]
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", filer_tools())
    keys = KeySpace(cache_section["key_prefix"])
    redis = aioredis.Redis.from_url(cache_section["redis_url"])
    await redis.hset(keys.harvest("filer"), mapping={"state": "running", "position": "twelve"})
    retrying = {"enabled": True, "pause": 0, "retry_min": 0.5, "retry_max": 0.5}
    client = await gateway(
        [{"name": "filer", "url": url, "flavor": "generic"}],
        cache=cache_section,
        identity={"harvest": retrying},
    )
    await eventually(lambda: progress(client, "filer").state == "failing", "the failure shows")
    error = progress(client, "filer").last_error or ""
    assert "corrupt" in error and "position='twelve'" in error
    assert registry.request_count("/tools") == 0, "no walk from an unreadable position"
    saved = await redis.hgetall(keys.harvest("filer"))
    assert saved[b"state"] == b"failing" and saved[b"position"] == b"0"
    await redis.aclose()

    await eventually(lambda: progress(client, "filer").walks == 1, "the retry walks")
    assert listing_offsets(registry)[0] == 0, "the retry starts from the first tool"
    assert progress(client, "filer").state == "idle"
    assert progress(client, "filer").last_error is None
    assert index_size(client) == FILER_TOOLS


async def test_an_unexpected_error_reports_failing_and_the_walk_is_retried(
    gateway: GatewayFactory, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = await start_registry(aiohttp_server, "generic", filer_tools())
    retrying = {"enabled": True, "pause": 0, "retry_min": 0.3, "retry_max": 0.3}
    client = await gateway(
        [{"name": "filer", "url": url, "flavor": "generic"}], identity={"harvest": retrying}
    )
    identity = client.server.app[IDENTITY]
    observe = identity.observe
    failures = []

    def broken_once(upstream: str, raw: Any) -> None:
        if not failures:
            failures.append(raw)
            raise KeyError("a bug in the index")
        observe(upstream, raw)

    monkeypatch.setattr(identity, "observe", broken_once)
    await eventually(lambda: progress(client, "filer").state == "failing", "the failure shows")
    assert "KeyError" in (progress(client, "filer").last_error or "")
    assert client.server.app[HARVESTER].tasks["filer"].state == "failing"
    await eventually(lambda: progress(client, "filer").walks == 1, "the retried walk completes")
    assert progress(client, "filer").last_error is None
    assert index_size(client) == FILER_TOOLS


async def test_a_harvest_that_loses_its_lease_stops_walking(
    gateway: GatewayFactory, aiohttp_server: Any, cache_section: dict[str, Any]
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", filer_tools())
    slow = {"enabled": True, "page_size": 2, "pause": 0.2}
    client = await gateway(
        [{"name": "filer", "url": url, "flavor": "generic"}],
        cache=cache_section,
        identity={"harvest": slow},
    )
    await eventually(lambda: progress(client, "filer").position >= 2, "the walk is under way")
    keys = KeySpace(cache_section["key_prefix"])
    redis = aioredis.Redis.from_url(cache_section["redis_url"])
    await redis.set(keys.harvest_lock("filer"), "another replica", px=60_000)  # taken over
    await eventually(lambda: progress(client, "filer").state == "elsewhere", "the walk stops")
    walked = len(listing_offsets(registry))
    await asyncio.sleep(1.0)  # five pauses: a walk going on would have read more pages
    assert len(listing_offsets(registry)) == walked
    assert progress(client, "filer").walks == 0
    assert walked < FILER_TOOLS // 2
    assert await redis.get(keys.harvest_lock("filer")) == b"another replica"
    await redis.aclose()


async def test_a_walk_another_replica_completes_while_we_wait_for_its_lease_is_not_repeated(
    gateway: GatewayFactory, aiohttp_server: Any, cache_section: dict[str, Any]
) -> None:
    filer, upstreams = await start_two_registries(aiohttp_server)
    manual = {"harvest": {"enabled": False, "page_size": 3, "pause": 0}}
    one = (await gateway(upstreams, cache=cache_section, identity=manual)).server.app[HARVESTER]
    two = (await gateway(upstreams, cache=cache_section, identity=manual)).server.app[HARVESTER]
    take_lease = two.lock

    async def after_the_other_walked(name: str) -> bool:
        await one._step(name)  # replica one walks the whole listing meanwhile
        return await take_lease(name)

    two.lock = after_the_other_walked  # type: ignore[method-assign]
    await two._step("filer")
    assert listing_offsets(filer) == list(range(0, FILER_TOOLS, 3)), "one walk, not two"
    assert two.progress["filer"].walks == 1 and two.progress["filer"].last_completed
