"""How each upstream call is classified for health and the circuit breaker.

Timeouts, refused connections, 5xx and unusable 200s are failures; 404s and other 4xx are
answers from a working upstream.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, ServerFactory, start_registry
from tests.samples import cwl_workflow_version

NO_HARVEST = {"harvest": {"enabled": False}}
QUIET = {"probe_interval": 3600}
"""One probe at startup, then none: only the test's own calls are counted."""


async def upstream_report(client: TestClient[Any, Any]) -> dict[str, Any]:
    report: dict[str, Any] = (await (await client.get("/health/ready")).json())["upstreams"][0]
    return report


async def after_first_probe(client: TestClient[Any, Any]) -> None:
    for _ in range(200):
        if (await upstream_report(client))["last_probe"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the startup probe did not finish")


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("html", "bad-response"),
        ("badjson", "bad-response"),
        ("empty200", "bad-response"),
        ("error500", "unavailable"),
    ],
)
async def test_unusable_answers_are_failures(
    aiohttp_server: ServerFactory, gateway: GatewayFactory, mode: str, reason: str
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", [], mode=mode)
    client = await gateway(
        [{"name": "up", "url": url}],
        health=QUIET,
        identity=NO_HARVEST,
        federation={"circuit_failures": 100},
    )
    await after_first_probe(client)
    for _ in range(3):
        listing = await client.get("/ga4gh/trs/v2/tools")
        assert listing.headers["X-TRS-Gateway-Missing"] == f'"up";reason="{reason}"'
    report = await upstream_report(client)
    assert report["state"] == "down"
    assert report["consecutive_failures"] == len(registry.requests) >= 4
    assert report["last_error"]["reason"] == reason and report["last_success"] is None


async def test_not_found_and_refusals_are_answers_from_a_working_upstream(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    tool = FakeTool(id="wf", name="wf", versions=[cwl_workflow_version("1.0")])
    _, url = await start_registry(aiohttp_server, "generic", [tool])
    client = await gateway(
        [{"name": "up", "url": url}],
        health=QUIET,
        identity=NO_HARVEST,
        federation={"circuit_failures": 1},
    )
    await after_first_probe(client)
    for path in ("/tools/up%3Anope", "/tools/up%3Awf/versions/9.9", "/tools/up%3Awf"):
        await client.get(f"/ga4gh/trs/v2{path}")
    report = await upstream_report(client)
    assert report["state"] == "up" and report["circuit"] == "closed"
    assert report["consecutive_failures"] == 0 and report["last_error"] is None
    assert report["latency_ms"]["samples"] >= 4


async def test_calls_abandoned_at_the_fan_out_deadline_are_timeouts(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    registry, url = await start_registry(aiohttp_server, "generic", [], hang_seconds=5)
    client = await gateway(
        [{"name": "slow", "url": url, "timeout": 10}],
        health=QUIET,
        identity=NO_HARVEST,
        federation={"deadline": 0.3},
    )
    await after_first_probe(client)
    registry.mode = "hang"
    listing = await client.get("/ga4gh/trs/v2/tools")
    assert listing.headers["X-TRS-Gateway-Missing"] == '"slow";reason="timeout"'
    report = await upstream_report(client)
    assert report["last_error"]["reason"] == "timeout" and report["state"] == "down"
    registry.release_hanging()
