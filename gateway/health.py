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
from typing import Any

from aiohttp import web

from . import __version__
from .keys import CACHE, MONITOR, RUNTIME
from .ops.monitor import State
from .timestamps import iso
from .trs.handlers import json_response

__all__ = ["health", "readiness", "ready", "setup_health"]


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "version": __version__, "pid": os.getpid()})


def cache_report(app: web.Application) -> dict[str, Any]:
    cache = app[CACHE]
    return {
        "memory": {"entries": len(cache.memory), "bytes": cache.memory.bytes},
        "counts": dict(cache.stats.counts),
        "fills": cache.stats.fills,
        "fill_errors": cache.stats.fill_errors,
        "background_refreshes": cache.stats.refreshes,
    }


async def redis_report(app: web.Application) -> dict[str, Any]:
    cache = app[CACHE]
    if cache.redis is None:
        return {"status": "disabled"}
    if not cache.redis.available or cache.redis.state.status != "ok":
        await cache.redis.ping()
    return cache.redis.state.as_dict()


def overall_status(upstreams: list[dict[str, Any]], redis: dict[str, Any]) -> str:
    """``unavailable`` if every upstream is down, ``degraded`` if anything is less than
    healthy, else ``ok``."""
    states = [u["state"] for u in upstreams]
    if states and all(s == State.DOWN for s in states):
        return "unavailable"
    if any(s != State.UP for s in states) or redis["status"] == "degraded":
        return "degraded"
    return "ok"


async def readiness(app: web.Application) -> dict[str, Any]:
    """The ``/health/ready`` report (upstreams in configuration order)."""
    upstreams = app[MONITOR].reports()
    federation = app[RUNTIME].federation
    for upstream in upstreams:
        upstream["harvest"] = federation.harvester.report(upstream["name"])
    redis = await redis_report(app)
    return {
        "status": overall_status(upstreams, redis),
        "version": __version__,
        "pid": os.getpid(),
        "checked_at": iso(time.time()),
        "upstreams": upstreams,
        "redis": redis,
        "cache": cache_report(app),
        "identity": federation.identity.report(),
    }


async def ready(request: web.Request) -> web.Response:
    report = await readiness(request.app)
    return json_response(report, status=503 if report["status"] == "unavailable" else 200)


def setup_health(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/health/ready", ready)
