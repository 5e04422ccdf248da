"""The application factory: configuration in, ``web.Application`` out.

Resources live in cleanup contexts (one per resource), so each is created at
startup and closed at shutdown, and nothing is shared through module state.
The TRS routes are one sub-application per configured base path. Operating
the gateway (health, probes, circuit breakers, metrics, access log, reloads)
is wired in from :mod:`gateway.ops`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

from aiohttp import web

from .cache import RedisTier, TieredCache
from .cache.operations import subscribe_purges
from .config import GatewayConfig
from .errors import GatewayError
from .health import setup_health
from .keys import CACHE, METRICS, MONITOR, RELOADER, RUNTIME
from .ops.access import access_middleware
from .ops.metrics import Metrics, setup_metrics
from .ops.monitor import Monitor
from .ops.probes import probes_ctx
from .ops.reload import Reloader, ReloadSource, reload_ctx, start_federation
from .ops.requestid import HEADER as REQUEST_ID_HEADER
from .runtime import Runtime
from .status import setup_status
from .trs.handlers import MISSING_HEADER, PAGINATION_HEADERS, json_response, make_trs_app

__all__ = ["create_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXPOSED_HEADERS = ", ".join(
    [
        *PAGINATION_HEADERS,
        MISSING_HEADER,
        "Content-Disposition",
        "ETag",
        "Age",
        "X-Cache",
        REQUEST_ID_HEADER,
    ]
)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as a TRS ``Error`` JSON body; never a traceback."""
    try:
        return await handler(request)
    except GatewayError as exc:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return json_response({"code": exc.status, "message": exc.message}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"no such resource: {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} is not allowed here; this API is read-only"
        return json_response(
            {"code": exc.status, "message": message},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return json_response({"code": 500, "message": "internal error"}, status=500)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let browser portals read the API, including the pagination headers."""
    response = await handler(request)
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("Access-Control-Expose-Headers", EXPOSED_HEADERS)
    return response


async def cache_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cache tiers; Redis only when ``cache.redis_url`` is set."""
    config = app[RUNTIME].config.cache
    redis = RedisTier(config.redis_url, config.redis_timeout) if config.redis_url else None
    cache = TieredCache(config, redis)
    app[CACHE] = cache
    purges: asyncio.Task[None] | None = None
    if redis is not None:
        if not await redis.ping():
            log.warning(
                "Redis at %s is not answering; serving from memory until it does",
                config.redis_url,
            )
        purges = asyncio.create_task(
            subscribe_purges(redis, cache.keys, lambda p: cache.drop_local(p.upstream, p.tool))
        )
    try:
        yield
    finally:
        if purges is not None:
            purges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purges
        await cache.close()


async def federation_ctx(app: web.Application) -> AsyncIterator[None]:
    """The federation of the configuration in force; the current one is closed at shutdown."""
    runtime = app[RUNTIME]
    runtime.install(await start_federation(app, runtime.config))
    try:
        yield
    finally:
        await runtime.federation.close()


async def openapi(request: web.Request) -> web.Response:
    spec = resources.files("gateway") / "trs" / "openapi" / "trs-2.0.1.bundled.yaml"
    return web.Response(body=spec.read_bytes(), content_type="application/yaml")


def create_app(config: GatewayConfig, reload_from: ReloadSource | None = None) -> web.Application:
    """The gateway for ``config``; with ``reload_from`` it reloads that file on SIGHUP."""
    app = web.Application(middlewares=[access_middleware, cors_middleware, error_middleware])
    app[RUNTIME] = Runtime(config)
    app[METRICS] = Metrics()
    app[MONITOR] = Monitor(config, app[METRICS])
    if reload_from is not None:
        app[RELOADER] = Reloader(app, reload_from)
    app.cleanup_ctx.append(cache_ctx)
    app.cleanup_ctx.append(federation_ctx)
    app.cleanup_ctx.append(probes_ctx)
    app.cleanup_ctx.append(reload_ctx)
    setup_health(app)
    setup_metrics(app)
    setup_status(app)
    app.router.add_get("/openapi.yaml", openapi)
    for base_path in config.server.base_paths:
        app.add_subapp(base_path, make_trs_app(base_path))
    return app
