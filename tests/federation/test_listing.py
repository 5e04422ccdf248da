"""The merged listing under a deadline: a hung upstream costs a page only its own tools."""

from __future__ import annotations

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
