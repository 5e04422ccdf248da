"""Health: background probes, /health/ready states, and the per-upstream circuit breaker.

Fake upstreams are real aiohttp servers on loopback; "stopping" one closes its server, so
connections to it are refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gateway.ops.circuit import Circuit, CircuitBreaker
from tests.conftest import GatewayFactory
from tests.fakes import FakeRegistry, FakeTool, ServerFactory, make_registry_app
from tests.samples import cwl_workflow_version

MISSING = "X-TRS-Gateway-Missing"
NO_HARVEST = {"harvest": {"enabled": False}}
"""The identity harvester also calls upstreams; these tests count every call."""


async def start(
    aiohttp_server: ServerFactory, flavor: str, name: str, **knobs: Any
) -> tuple[FakeRegistry, TestServer, dict[str, Any]]:
    tool = FakeTool(id=f"{name}-tool", name=name, versions=[cwl_workflow_version("1.0")])
    registry = make_registry_app(flavor, [tool], **knobs)
    server = await aiohttp_server(registry.app)
    url = str(server.make_url(registry.base_path or "/")).rstrip("/")
    return registry, server, {"name": name, "url": url, "flavor": flavor, "timeout": 2}


async def ready(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status, await response.json()


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in report["upstreams"]}


async def wait_for_report(
    client: TestClient[Any, Any],
    condition: Callable[[dict[str, Any]], bool],
    seconds: float,
) -> dict[str, Any]:
    """Poll /health/ready (which makes no upstream call) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + seconds
    while True:
        _, report = await ready(client)
        if condition(report):
            return report
        if loop.time() > give_up:
            raise AssertionError(f"not reached within {seconds}s: {report}")
        await asyncio.sleep(0.05)


async def test_liveness_is_cheap_and_names_the_process(gateway: GatewayFactory) -> None:
    client = await gateway([{"name": "x", "url": "http://127.0.0.1:1/trs", "timeout": 1}])
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["pid"] == os.getpid() and body["version"]


async def test_a_stopped_upstream_goes_down_without_traffic_and_listings_go_on(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    _, one_server, one_entry = await start(aiohttp_server, "generic", "one")
    _, two_server, two_entry = await start(aiohttp_server, "dockstore", "two")
    client = await gateway(
        [one_entry, two_entry],
        health={"probe_interval": 0.2, "probe_timeout": 1},
        identity=NO_HARVEST,
    )
    report = await wait_for_report(
        client, lambda r: all(u["last_probe"] for u in r["upstreams"]), seconds=10
    )
    assert report["status"] == "ok"
    assert [u["name"] for u in report["upstreams"]] == ["one", "two"], "configuration order"
    first = by_name(report)["one"]
    assert first["state"] == "up" and first["circuit"] == "closed"
    assert first["last_success"] and first["last_error"] is None
    assert first["latency_ms"]["samples"] >= 1 and first["latency_ms"]["p50"] is not None
    assert first["flavor"] == "generic" and first["url"] == one_entry["url"]
    assert first["harvest"]["state"] == "disabled"  # tests turn the harvest off
    assert report["identity"]["backend"] == "memory" and report["identity"]["tools"] >= 0
    assert report["redis"] == {"status": "disabled"} and "memory" in report["cache"]

    await one_server.close()
    report = await wait_for_report(
        client, lambda r: by_name(r)["one"]["state"] == "down", seconds=10
    )
    status, report = await ready(client)
    assert status == 200 and report["status"] == "degraded"
    down = by_name(report)["one"]
    assert down["last_error"]["reason"] == "unavailable"
    assert down["consecutive_failures"] >= 1
    assert by_name(report)["two"]["state"] == "up"

    for _ in range(3):
        listing = await client.get("/ga4gh/trs/v2/tools")
        assert listing.status == 200
        assert '"one";reason=' in listing.headers[MISSING]
        assert "two" not in listing.headers[MISSING]
        assert {t["id"] for t in await listing.json()} == {"two:two-tool"}

    await two_server.close()
    await wait_for_report(client, lambda r: r["status"] == "unavailable", seconds=10)
    status, report = await ready(client)
    assert status == 503
    assert {u["state"] for u in report["upstreams"]} == {"down"}
    assert (await client.get("/health")).status == 200, "liveness does not depend on upstreams"


async def test_the_circuit_opens_skips_the_upstream_and_one_probe_closes_it(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    failing, _, failing_entry = await start(aiohttp_server, "generic", "flaky", mode="error500")
    _, _, healthy_entry = await start(aiohttp_server, "generic", "steady")
    client = await gateway(
        [failing_entry, healthy_entry],
        federation={"circuit_failures": 3, "circuit_cooldown": 1.0},
        health={"probe_interval": 3600},
        identity=NO_HARVEST,
    )
    # The startup probe is the first failure; listings add the others.
    await wait_for_report(client, lambda r: by_name(r)["flaky"]["last_probe"], seconds=10)
    reasons = []
    for _ in range(2):
        listing = await client.get("/ga4gh/trs/v2/tools")
        reasons.append(listing.headers[MISSING])
    assert reasons == ['"flaky";reason="unavailable"'] * 2
    _, report = await ready(client)
    flaky = by_name(report)["flaky"]
    assert flaky["circuit"] == "open" and flaky["state"] == "down"
    assert flaky["consecutive_failures"] == 3

    calls = len(failing.requests)
    for _ in range(5):
        listing = await client.get("/ga4gh/trs/v2/tools")
        assert listing.status == 200
        assert listing.headers[MISSING] == '"flaky";reason="circuit-open"'
        assert {t["id"] for t in await listing.json()} == {"steady:steady-tool"}
    namespaced = await client.get("/ga4gh/trs/v2/tools/flaky%3Aflaky-tool")
    assert namespaced.status == 503
    assert len(failing.requests) == calls, "no request reaches an upstream whose circuit is open"

    failing.mode = "ok"
    report = await wait_for_report(
        client, lambda r: by_name(r)["flaky"]["circuit"] == "closed", seconds=10
    )
    assert len(failing.requests) == calls + 1, "exactly one trial call: the probe"
    assert failing.requests[-1].path.endswith("/service-info")
    flaky = by_name(report)["flaky"]
    assert flaky["state"] == "degraded", "it failed recently"
    assert flaky["consecutive_failures"] == 0 and flaky["last_success"]
    listing = await client.get("/ga4gh/trs/v2/tools")
    assert MISSING not in listing.headers


async def test_a_failed_trial_opens_the_circuit_again(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    failing, _, entry = await start(aiohttp_server, "generic", "dead", mode="error500")
    client = await gateway(
        [entry],
        federation={"circuit_failures": 1, "circuit_cooldown": 0.3},
        health={"probe_interval": 3600},
        identity=NO_HARVEST,
    )
    await wait_for_report(client, lambda r: r["upstreams"][0]["circuit"] == "open", seconds=10)
    # Every cool-down brings exactly one trial, which fails and reopens the circuit.
    for _ in range(200):
        if len(failing.requests) >= 3:
            break
        await asyncio.sleep(0.05)
    assert len(failing.requests) >= 3
    assert all(r.path.endswith("/service-info") for r in failing.requests)
    status, report = await ready(client)
    assert status == 503 and report["status"] == "unavailable"
    assert report["upstreams"][0]["state"] == "down"


def state_of(breaker: CircuitBreaker) -> Circuit:
    """The state, read through a call so type checkers do not narrow it between steps."""
    return breaker.state


def test_circuit_breaker_transitions() -> None:
    breaker = CircuitBreaker(failures_to_open=2, cooldown=10)
    assert breaker.admits(0, probe=False)
    breaker.failed(0)
    assert state_of(breaker) is Circuit.CLOSED and breaker.admits(0, probe=False)
    breaker.succeeded()
    breaker.failed(1)
    breaker.failed(2)
    assert state_of(breaker) is Circuit.OPEN and breaker.seconds_to_trial(2) == 10
    assert not breaker.admits(5, probe=False) and not breaker.admits(5, probe=True)
    assert not breaker.admits(13, probe=False), "only the probe is the trial"
    assert breaker.admits(13, probe=True) and state_of(breaker) is Circuit.HALF_OPEN
    assert not breaker.admits(13, probe=False), "clients wait for the trial's verdict"
    breaker.failed(13)
    assert state_of(breaker) is Circuit.OPEN and breaker.retry_at == 23
    assert breaker.admits(23, probe=True)
    breaker.succeeded()
    assert state_of(breaker) is Circuit.CLOSED and breaker.consecutive_failures == 0
