"""Health endpoints.

``GET /health`` is liveness: cheap, 200 while the process serves.
``GET /health/ready`` is readiness, with the state of each dependency::

    {"status": "ok" | "degraded",
     "redis": {"status": "ok" | "degraded" | "disabled", "last_error": ..., ...},
     "cache": {"memory": {"entries": n, "bytes": n}, "counts": {"hit:memory": n, ...}, ...}}

Redis being degraded does not make the gateway unready: it keeps answering
from memory and the upstreams.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .keys import CACHE
from .trs.handlers import json_response

__all__ = ["health", "ready", "setup_health"]


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def cache_report(request: web.Request) -> dict[str, Any]:
    cache = request.config_dict[CACHE]
    return {
        "memory": {"entries": len(cache.memory), "bytes": cache.memory.bytes},
        "counts": dict(cache.stats.counts),
        "fills": cache.stats.fills,
        "fill_errors": cache.stats.fill_errors,
        "background_refreshes": cache.stats.refreshes,
    }


async def ready(request: web.Request) -> web.Response:
    cache = request.config_dict[CACHE]
    if cache.redis is None:
        redis: dict[str, Any] = {"status": "disabled"}
    else:
        if not cache.redis.available or cache.redis.state.status != "ok":
            await cache.redis.ping()
        redis = cache.redis.state.as_dict()
    status = "degraded" if redis["status"] == "degraded" else "ok"
    return json_response({"status": status, "redis": redis, "cache": cache_report(request)})


def setup_health(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/health/ready", ready)
