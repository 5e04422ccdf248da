"""Health endpoints.

``GET /health`` is liveness: cheap, 200 while the process serves::

    {"status": "ok", "version": "0.1.0", "pid": 4242}

``GET /health/ready`` is readiness: the state of every upstream (kept true by
background probes, see :mod:`gateway.ops.probes`), of Redis and of the cache.
It answers 503 when no upstream is usable (all ``down``), else 200. The shape
is documented in ``docs/operations.md``; :func:`readiness` builds it, with
each upstream's identity harvest progress and the identity index's size.

Redis being degraded does not make the gateway unready: it keeps answering
from memory and the upstreams.
"""

from __future__ import annotations

import os
import time
from enum import StrEnum
from typing import Any

from aiohttp import web

from .. import __version__
from ..cache import TieredCache
from ..index import Harvester, Identity
from ..ops.monitor import Monitor, State
from ..responses import json_response
from ..store import RedisStatus, RedisStore
from ..timestamps import iso

__all__ = ["Health", "Overall", "overall_status"]


class Overall(StrEnum):
    """The gateway's state as a whole: the ``status`` of ``/health/ready``."""

    OK = "ok"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"


def overall_status(upstreams: list[dict[str, Any]], redis: dict[str, Any]) -> Overall:
    """``unavailable`` if every upstream is down, ``degraded`` if anything is less than
    healthy, else ``ok``."""
    states = [u["state"] for u in upstreams]
    if states and all(s == State.DOWN for s in states):
        return Overall.UNAVAILABLE
    if any(s != State.UP for s in states) or redis["status"] == RedisStatus.DEGRADED:
        return Overall.DEGRADED
    return Overall.OK


class Health:
    """The health endpoints, over the application's resources."""

    def __init__(
        self,
        monitor: Monitor,
        cache: TieredCache,
        store: RedisStore | None,
        identity: Identity,
        harvester: Harvester,
    ) -> None:
        self.monitor = monitor
        self.cache = cache
        self.store = store
        self.identity = identity
        self.harvester = harvester

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok", "version": __version__, "pid": os.getpid()})

    def cache_report(self) -> dict[str, Any]:
        cache = self.cache
        return {
            "memory": {"entries": len(cache.memory), "bytes": cache.memory.bytes},
            "counts": dict(cache.stats.counts),
            "fills": cache.stats.fills,
            "fill_errors": cache.stats.fill_errors,
            "background_refreshes": cache.stats.refreshes,
        }

    async def redis_report(self) -> dict[str, Any]:
        store = self.store
        if store is None:
            return {"status": "disabled"}
        if not store.available or store.state.status is not RedisStatus.OK:
            await store.ping()
        return store.state.as_dict()

    async def readiness(self) -> dict[str, Any]:
        """The ``/health/ready`` report (upstreams in configuration order)."""
        upstreams = self.monitor.reports()
        for upstream in upstreams:
            upstream["harvest"] = self.harvester.report(upstream["name"])
        redis = await self.redis_report()
        return {
            "status": overall_status(upstreams, redis),
            "version": __version__,
            "pid": os.getpid(),
            "checked_at": iso(time.time()),
            "upstreams": upstreams,
            "redis": redis,
            "cache": self.cache_report(),
            "identity": self.identity.report(),
        }

    async def ready(self, request: web.Request) -> web.Response:
        report = await self.readiness()
        unavailable = report["status"] is Overall.UNAVAILABLE
        return json_response(report, status=503 if unavailable else 200)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self.health)
        router.add_get("/health/ready", self.ready)
