"""Prometheus metrics and ``GET /metrics``.

Each application has its own :class:`Metrics` (its own ``CollectorRegistry``),
so tests can run many gateways in one process. The metric names and labels are
listed in ``docs/operations.md``.

Cache counters are kept by the cache itself (``TieredCache.stats``); they are
copied into Prometheus counters just before every scrape, and every second
when several workers share the metrics.

With ``serve --workers N`` (N > 1) the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``
for its workers, which switches prometheus-client to its multiprocess mode:
every worker writes its values to files in that directory and a scrape of any
worker adds up all of them (counters and histograms are summed, the in-flight
gauge is summed over live workers, the circuit state gauge is the worst state
among live workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .. import __version__
from ..background import Supervised
from ..cache import CacheStats, TieredCache
from .circuit import Circuit

__all__ = ["MULTIPROC_ENV", "Metrics", "MetricsRoute"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SYNC_INTERVAL = 1.0
"""Seconds between two copies of the cache counters when workers share metrics."""


def route_label(request: web.Request) -> str:
    """The route template that matched, or ``unmatched``: a bounded metric label."""
    match_info = request.match_info
    if getattr(match_info, "http_exception", None) is not None:
        return "unmatched"
    route = match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


class Metrics:
    """Every metric of one gateway process, in one registry."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self._served: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        registry = self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "trs_gateway_http_requests",
            "Requests served, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "trs_gateway_http_request_duration_seconds",
            "Time to produce a response, by route template and method.",
            ["route", "method"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "trs_gateway_http_requests_in_flight",
            "Requests being served now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.upstream_calls = Counter(
            "trs_gateway_upstream_calls",
            "Calls to upstream registries, by upstream and outcome.",
            ["upstream", "outcome"],
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "trs_gateway_upstream_call_duration_seconds",
            "Duration of calls to upstream registries, by upstream and outcome.",
            ["upstream", "outcome"],
            registry=registry,
        )
        self.circuit_state = Gauge(
            "trs_gateway_upstream_circuit_state",
            "Circuit breaker of each upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.cache_lookups = Counter(
            "trs_gateway_cache_lookups",
            "Cache lookups by outcome (hit, stale, miss) and the tier that answered "
            "(memory, redis, or upstream for a miss).",
            ["outcome", "tier"],
            registry=registry,
        )
        self.cache_fills = Counter(
            "trs_gateway_cache_fills", "Cache entries filled from upstreams.", registry=registry
        )
        self.cache_fill_errors = Counter(
            "trs_gateway_cache_fill_errors",
            "Cache fills that failed (the upstream failed).",
            registry=registry,
        )
        self.cache_refreshes = Counter(
            "trs_gateway_cache_background_refreshes",
            "Stale entries refreshed in the background.",
            registry=registry,
        )
        self.reloads = Counter(
            "trs_gateway_config_reloads",
            "Configuration reloads, by result (ok, error).",
            ["result"],
            registry=registry,
        )
        self.build_info = Gauge(
            "trs_gateway_build_info",
            "Always 1; the version label says which gateway is running.",
            ["version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.build_info.labels(__version__).set(1)
        self._copied: dict[str, int] = {}

    # -- updates -----------------------------------------------------------

    def request_served(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request; the labelled series are looked up once each, then kept."""
        key = (route, method, status)
        series = self._served.get(key)
        if series is None:
            series = self._served[key] = (
                self.http_requests.labels(route, method, str(status)),
                self.http_duration.labels(route, method),
            )
        series[0].inc()
        series[1].observe(seconds)

    def set_circuit(self, upstream: str, state: Circuit) -> None:
        self.circuit_state.labels(upstream).set(state.gauge_value)

    def forget_upstream(self, upstream: str) -> None:
        """Drop the circuit series of an upstream removed by a reload."""
        self.circuit_state.labels(upstream).set(0)
        with contextlib.suppress(KeyError):
            self.circuit_state.remove(upstream)

    def copy_cache_stats(self, stats: CacheStats) -> None:
        """Bring the cache counters up to the cache's own counts."""
        for key, value in list(stats.counts.items()):
            outcome, _, tier = key.partition(":")
            self._advance(self.cache_lookups.labels(outcome, tier), f"lookup {key}", value)
        self._advance(self.cache_fills, "fills", stats.fills)
        self._advance(self.cache_fill_errors, "fill_errors", stats.fill_errors)
        self._advance(self.cache_refreshes, "refreshes", stats.refreshes)

    def _advance(self, counter: Counter, key: str, value: int) -> None:
        delta = value - self._copied.get(key, 0)
        if delta > 0:
            counter.inc(delta)
            self._copied[key] = value

    # -- exposition ----------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition: this process's registry, or every worker's."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(combined)


class MetricsRoute:
    """``GET /metrics``, and with shared (multiprocess) metrics a task that copies the
    cache counters every second, so a scrape answered by another worker sees this
    one's counts too."""

    def __init__(self, metrics: Metrics, cache: TieredCache) -> None:
        self.metrics = metrics
        self.cache = cache
        self.copier = Supervised("metrics-copy", self._copy)

    async def handler(self, request: web.Request) -> web.Response:
        metrics = self.metrics
        metrics.copy_cache_stats(self.cache.stats)
        body = (
            await asyncio.to_thread(metrics.render)
            if metrics.multiprocess_dir
            else metrics.render()
        )
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _copy(self) -> float:
        self.metrics.copy_cache_stats(self.cache.stats)
        return SYNC_INTERVAL

    async def start(self) -> None:
        if self.metrics.multiprocess_dir is not None:
            self.copier.start()

    async def close(self) -> None:
        await self.copier.stop()
