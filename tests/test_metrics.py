"""``/metrics``: Prometheus text that the Prometheus parser reads, with upstream errors in it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, ServerFactory, start_registry
from tests.samples import cwl_workflow_version

NO_HARVEST = {"harvest": {"enabled": False}}


async def scrape(client: TestClient[Any, Any]) -> dict[str, list[Sample]]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(await response.text())
    return {family.name: family.samples for family in families}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample called ``name`` whose labels include ``labels``."""
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


async def test_metrics_show_requests_upstream_errors_cache_and_circuits(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    tool = FakeTool(id="good-tool", name="good", versions=[cwl_workflow_version("1.0")])
    _, good_url = await start_registry(aiohttp_server, "generic", [tool])
    broken, broken_url = await start_registry(aiohttp_server, "generic", [], mode="error500")
    client = await gateway(
        [
            {"name": "good", "url": good_url},
            {"name": "broken", "url": broken_url},
        ],
        federation={"circuit_failures": 100},
        health={"probe_interval": 3600},
        identity=NO_HARVEST,
    )
    for _ in range(3):
        listing = await client.get("/ga4gh/trs/v2/tools")
        assert listing.status == 200 and "X-TRS-Gateway-Missing" in listing.headers
    for _ in range(2):
        assert (await client.get("/ga4gh/trs/v2/tools/good%3Agood-tool")).status == 200
    assert (await client.get("/no/such/page")).status == 404

    metrics = await scrape(client)

    calls = metrics["trs_gateway_upstream_calls"]
    assert (
        value(calls, "trs_gateway_upstream_calls_total", upstream="broken", outcome="unavailable")
        >= 3
    )
    assert value(calls, "trs_gateway_upstream_calls_total", upstream="good", outcome="ok") >= 1
    assert len(broken.requests) >= 3
    durations = metrics["trs_gateway_upstream_call_duration_seconds"]
    assert (
        value(
            durations,
            "trs_gateway_upstream_call_duration_seconds_count",
            upstream="broken",
            outcome="unavailable",
        )
        >= 3
    )

    requests = metrics["trs_gateway_http_requests"]
    route = "/ga4gh/trs/v2/tools"
    assert value(requests, "trs_gateway_http_requests_total", route=route, status="200") == 3
    assert (
        value(
            requests,
            "trs_gateway_http_requests_total",
            route="/ga4gh/trs/v2/tools/{id}",
            status="200",
        )
        == 2
    )
    assert value(requests, "trs_gateway_http_requests_total", route="unmatched", status="404") == 1
    histogram = metrics["trs_gateway_http_request_duration_seconds"]
    assert value(histogram, "trs_gateway_http_request_duration_seconds_count", route=route) == 3
    assert any(
        s.name.endswith("_bucket") and s.labels.get("le") == "+Inf" and s.labels["route"] == route
        for s in histogram
    )
    # The scrape itself is in flight while the metrics are rendered.
    assert (
        value(metrics["trs_gateway_http_requests_in_flight"], "trs_gateway_http_requests_in_flight")
        == 1
    )

    lookups = metrics["trs_gateway_cache_lookups"]
    assert value(lookups, "trs_gateway_cache_lookups_total", outcome="miss", tier="upstream") >= 2
    assert value(lookups, "trs_gateway_cache_lookups_total", outcome="hit", tier="memory") >= 1
    assert "trs_gateway_cache_fills" in metrics

    circuits = metrics["trs_gateway_upstream_circuit_state"]
    assert value(circuits, "trs_gateway_upstream_circuit_state", upstream="good") == 0
    assert value(circuits, "trs_gateway_upstream_circuit_state", upstream="broken") == 0
    assert value(metrics["trs_gateway_build_info"], "trs_gateway_build_info") == 1


async def test_an_open_circuit_shows_in_the_gauge_and_in_skipped_calls(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    _, url = await start_registry(aiohttp_server, "generic", [], mode="error500")
    client = await gateway(
        [{"name": "broken", "url": url}],
        federation={"circuit_failures": 2, "circuit_cooldown": 3600},
        health={"probe_interval": 3600},
        identity=NO_HARVEST,
    )
    for _ in range(4):
        await client.get("/ga4gh/trs/v2/tools")
    metrics = await scrape(client)
    circuits = metrics["trs_gateway_upstream_circuit_state"]
    assert value(circuits, "trs_gateway_upstream_circuit_state", upstream="broken") == 2
    calls = metrics["trs_gateway_upstream_calls"]
    assert (
        value(calls, "trs_gateway_upstream_calls_total", upstream="broken", outcome="circuit-open")
        >= 2
    )


async def test_two_apps_in_one_process_keep_separate_counts(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    one = await gateway([demo_upstream], identity=NO_HARVEST)
    two = await gateway([demo_upstream], identity=NO_HARVEST)
    for _ in range(3):
        await one.get("/ga4gh/trs/v2/toolClasses")
    counted = await scrape(two)
    requests = counted.get("trs_gateway_http_requests", [])
    assert not [s for s in requests if s.labels.get("route") == "/ga4gh/trs/v2/toolClasses"]
