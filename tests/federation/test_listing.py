"""The merged listing under a deadline: a hung upstream costs a page only its own tools."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from yarl import URL

from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, FakeVersion, start_registry

BASE = "/ga4gh/trs/v2"


def tools(prefix: str, count: int) -> list[FakeTool]:
    return [
        FakeTool(id=f"{prefix}{i:02d}", versions=[FakeVersion(name="1", id="1")])
        for i in range(count)
    ]


async def test_a_hung_upstream_leaves_complete_pages_of_the_healthy_and_is_named_alone(
    gateway: GatewayFactory, aiohttp_server: Any
) -> None:
    hung, hung_url = await start_registry(aiohttp_server, "generic", tools("h", 10))
    hung.mode = "hang"
    _, good_url = await start_registry(aiohttp_server, "generic", tools("g", 25))
    client = await gateway(
        [
            {"name": "hung", "url": hung_url, "timeout": 30},
            {"name": "good", "url": good_url},
        ],
        federation={"deadline": 1.0},
        health={"probe_interval": 3600, "probe_timeout": 0.2},
    )
    seen: list[str] = []
    url = f"{BASE}/tools?limit=10"
    for _ in range(2):
        started = time.monotonic()
        response = await client.get(url)
        took = time.monotonic() - started
        assert response.status == 200
        page = [t["id"] for t in await response.json()]
        assert page == [f"good:g{i:02d}" for i in range(len(seen), len(seen) + 10)]
        assert response.headers["X-TRS-Gateway-Missing"] == '"hung";reason="timeout"'
        assert "no-store" in response.headers["Cache-Control"]
        assert took < 1.0 + 0.5
        seen += page
        url = response.headers["next_page"].removeprefix(f"http://{client.host}:{client.port}")

    ready = await (await client.get("/health/ready")).json()
    states = {u["name"]: u for u in ready["upstreams"]}
    assert states["good"]["state"] == "up", states["good"]
    assert states["good"]["failures"] == 0

    # Once the hung upstream answers again, the walk picks it up from its first tool
    # (the merge takes from the stream that gave the fewest so far).
    hung.mode = "ok"
    hung.release_hanging()
    response = await client.get(url)
    assert "X-TRS-Gateway-Missing" not in response.headers
    assert [t["id"] for t in await response.json()] == [f"hung:h{i:02d}" for i in range(10)]


@pytest.mark.parametrize("flavor", ["generic", "workflowhub"])
async def test_no_next_page_leads_to_an_empty_page_when_the_upstreams_are_known_done(
    gateway: GatewayFactory, aiohttp_server: Any, flavor: str
) -> None:
    # Both link their next pages, so a full page without a link is known to be the last.
    _, url = await start_registry(aiohttp_server, flavor, tools("t", 10))
    client = await gateway([{"name": "up", "url": url, "flavor": flavor}])
    response = await client.get(f"{BASE}/tools", params={"limit": "5"})
    sizes = [len(await response.json())]
    while "next_page" in response.headers:
        response = await client.session.get(URL(response.headers["next_page"], encoded=True))
        sizes.append(len(await response.json()))
    assert sizes == [5, 5]
    assert response.headers["last_page"] == response.headers["self_link"]


def relative(client: Any, link: str) -> str:
    return link.removeprefix(f"http://{client.host}:{client.port}")


async def walk(client: Any, url: str) -> list[list[str]]:
    """Every page of a walk from ``url``, as lists of ids."""
    pages = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        assert response.status == 200, await response.text()
        pages.append([t["id"] for t in await response.json()])
        link = response.headers.get("next_page")
        next_url = relative(client, link) if link else None
    return pages


async def test_a_walk_asks_each_upstream_about_as_often_as_walking_it_alone(
    gateway: GatewayFactory, aiohttp_server: Any
) -> None:
    registries = []
    entries = []
    sizes = {"a": 40, "b": 35, "c": 12}
    for name, count in sizes.items():
        registry, url = await start_registry(aiohttp_server, "generic", tools(name, count))
        registries.append(registry)
        entries.append({"name": name, "url": url})
    client = await gateway(entries, health={"probe_interval": 3600})
    pages = await walk(client, f"{BASE}/tools?limit=10")
    ids = [i for page in pages for i in page]
    expected = {f"{n}:{n}{i:02d}" for n, count in sizes.items() for i in range(count)}
    assert len(ids) == len(expected) and set(ids) == expected
    assert [len(p) for p in pages] == [10] * 8 + [7]
    # Each upstream is asked for whole pages of 10 and its next page ahead of need:
    # about its own walk's requests (4 for 40 tools), never one per gateway page (9).
    asked = [r.request_count("/tools") for r in registries]
    alone = [-(-count // 10) for count in sizes.values()]  # 4, 4, 2
    assert all(n <= own + 1 for n, own in zip(asked, alone, strict=True)), asked
    # The order is that of a walk without read-ahead: round-robin by tools given.
    assert ids[:6] == ["a:a00", "b:b00", "c:c00", "a:a01", "b:b01", "c:c01"]


async def test_a_first_page_alone_starts_no_request_ahead(
    gateway: GatewayFactory, aiohttp_server: Any
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", tools("a", 40))
    client = await gateway([{"name": "a", "url": url}], health={"probe_interval": 3600})
    response = await client.get(f"{BASE}/tools?limit=10")
    assert response.status == 200 and "next_page" in response.headers
    await asyncio.sleep(0.2)
    assert registry.request_count("/tools") == 1


async def test_a_failing_fetch_ahead_is_named_on_the_page_that_needed_it(
    gateway: GatewayFactory, aiohttp_server: Any
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", tools("a", 40))
    _, other_url = await start_registry(aiohttp_server, "generic", tools("b", 40))
    client = await gateway(
        [{"name": "a", "url": url}, {"name": "b", "url": other_url}],
        health={"probe_interval": 3600},
        federation={"circuit_failures": 100},
    )
    first = await client.get(f"{BASE}/tools?limit=10")
    second = await client.get(relative(client, first.headers["next_page"]))
    assert second.status == 200 and "X-TRS-Gateway-Missing" not in second.headers
    registry.mode = "error500"  # the requests ahead started after page 2 fail
    seen = 0
    missing = None
    link: str | None = second.headers["next_page"]
    while link and missing is None:
        response = await client.get(relative(client, link))
        assert response.status == 200
        seen += 1
        missing = response.headers.get("X-TRS-Gateway-Missing")
        link = response.headers.get("next_page")
    assert missing is not None and missing.startswith('"a"'), missing
