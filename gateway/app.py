"""The application factory: configuration in, ``web.Application`` out.

This is the one module that wires the gateway together. It creates every
long-lived object here, hands each the others it needs in its constructor,
and gives each resource one cleanup context, so it is started at startup and
stopped at shutdown, in order:

    Redis store -> cache (+ purge follower) -> identity index -> federation
    -> harvester -> probes -> metrics -> reloads

The TRS routes are one sub-application per configured base path. The typed
keys below expose the resources for inspection (tests, the status of a
running gateway); nothing else reads ``app[...]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

from aiohttp import web

from .answers import Answers
from .api.health import Health
from .api.status import StatusPage
from .api.trs import make_trs_app
from .cache import TieredCache
from .cache.purge import PurgeFollower
from .config import GatewayConfig, load_crosswalk
from .errors import GatewayError
from .federation.core import build_federation
from .index import Harvester, Identity
from .ops.access import Access
from .ops.guard import guard_middleware
from .ops.hot import HotAnswers
from .ops.metrics import Metrics, MetricsRoute
from .ops.monitor import Monitor
from .ops.probes import Prober
from .ops.reload import Reloader, ReloadSource
from .requestid import HEADER as REQUEST_ID_HEADER
from .responses import MISSING_HEADER, NO_STORE, PAGINATION_HEADERS, json_response
from .runtime import GENERATION, Runtime
from .store import KeySpace, RedisStore

__all__ = [
    "ACCESS",
    "CACHE",
    "HARVESTER",
    "HOT",
    "IDENTITY",
    "METRICS",
    "MONITOR",
    "PROBER",
    "RELOADER",
    "RUNTIME",
    "STORE",
    "create_app",
    "open_front_door",
]

log = logging.getLogger(__name__)

ACCESS = web.AppKey("access", Access)
"""Records every request; its front door sends hot answers (see :func:`open_front_door`)."""
RUNTIME = web.AppKey("runtime", Runtime)
"""The generation in force (configuration and federation); replaced as a whole on reload."""
CACHE = web.AppKey("cache", TieredCache)
STORE: web.AppKey[RedisStore | None] = web.AppKey("store")
"""The Redis store, or ``None`` without ``cache.redis_url``."""
IDENTITY = web.AppKey("identity", Identity)
HARVESTER = web.AppKey("harvester", Harvester)
HOT = web.AppKey("hot", HotAnswers)
"""Responses ready to be sent again (see :mod:`gateway.ops.hot`)."""
METRICS = web.AppKey("metrics", Metrics)
MONITOR = web.AppKey("monitor", Monitor)
"""Health, latencies and circuit breaker of every upstream, by name; outlives reloads."""
PROBER = web.AppKey("prober", Prober)
RELOADER = web.AppKey("reloader", Reloader)
"""Present when serving from a file: reloads it on SIGHUP."""

HOT_SHARE = 8
"""Hot answers hold at most ``cache.memory_bytes / HOT_SHARE`` bytes of bodies."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Context = Callable[[web.Application], AsyncIterator[None]]
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
async def answer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as a TRS ``Error`` JSON body, never a traceback; and every answer
    lets browser portals read it, pagination headers included (CORS)."""
    try:
        response = await handler(request)
    except GatewayError as exc:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        response = json_response(
            {"code": exc.status, "message": exc.message},
            status=exc.status,
            headers={**exc.headers, **NO_STORE},
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"no such resource: {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} is not allowed here; this API is read-only"
        response = json_response(
            {"code": exc.status, "message": message},
            status=exc.status,
            headers={
                **{k: v for k, v in exc.headers.items() if k.lower() == "allow"},
                **NO_STORE,
            },
        )
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        response = json_response({"code": 500, "message": "internal error"}, status=500)
    allowed = _cors_origin(request)
    if allowed is not None:
        headers = response.headers
        if "Access-Control-Allow-Origin" not in headers:
            headers["Access-Control-Allow-Origin"] = allowed
            if allowed != "*":
                headers.add("Vary", "Origin")
        if "Access-Control-Expose-Headers" not in headers:
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def _cors_origin(request: web.Request) -> str | None:
    """The ``Access-Control-Allow-Origin`` for this request (``server.cors_origins``)."""
    origins = request[GENERATION].config.server.cors_origins
    if "*" in origins:
        return "*"
    origin = request.headers.get("Origin")
    return origin if origin is not None and origin in origins else None


async def openapi(request: web.Request) -> web.Response:
    spec = resources.files("gateway") / "trs" / "openapi" / "trs-2.0.1.bundled.yaml"
    return web.Response(body=spec.read_bytes(), content_type="application/yaml")


def _context(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> Context:
    """A cleanup context that runs ``start`` at startup and ``stop`` at shutdown."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        await start()
        try:
            yield
        finally:
            await stop()

    return context


async def _nothing() -> None:
    return None


def open_front_door(app: web.Application, server: web.Server) -> None:
    """Let ``server``, which serves ``app``, send hot answers before aiohttp routes a request
    (:meth:`Access.front_door`). Call it before the server takes its first connection:
    a connection keeps the handler it was made with."""
    server.request_handler = app[ACCESS].front_door(server.request_handler)


def create_app(config: GatewayConfig, reload_from: ReloadSource | None = None) -> web.Application:
    """The gateway for ``config``; with ``reload_from`` it reloads that file on SIGHUP."""
    cache_config = config.cache
    keys = KeySpace(cache_config.key_prefix)
    store = (
        RedisStore(
            cache_config.redis_url,
            keys,
            timeout=cache_config.redis_timeout,
            pool_size=cache_config.redis_pool_size,
            client_name=f"trs-gateway-{os.getpid()}",
        )
        if cache_config.redis_url
        else None
    )
    names = [u.name for u in config.upstreams]
    runtime = Runtime(config)
    metrics = Metrics()
    monitor = Monitor(config, metrics)
    cache = TieredCache(cache_config, store)
    identity = Identity(names, load_crosswalk(config), store)
    harvester = Harvester(
        identity,
        lambda: runtime.current().federation.by_name,
        config.identity.harvest,
        config.upstreams,
        store,
    )
    prober = Prober(runtime, monitor)
    monitor.on_circuit_open = prober.wake
    metrics_route = MetricsRoute(metrics, cache)
    answers = Answers(cache, identity)
    hot = HotAnswers(cache, identity, cache_config.memory_bytes // HOT_SHARE)
    access = Access(runtime, metrics, hot)

    middlewares = [access.middleware, answer_middleware, guard_middleware(store)]
    app = web.Application(middlewares=middlewares)
    app[ACCESS] = access
    app[RUNTIME] = runtime
    app[STORE] = store
    app[CACHE] = cache
    app[IDENTITY] = identity
    app[HARVESTER] = harvester
    app[HOT] = hot
    app[METRICS] = metrics
    app[MONITOR] = monitor
    app[PROBER] = prober

    if store is not None:
        redis = store
        purges = PurgeFollower(redis, cache)

        async def open_store() -> None:
            if not await redis.ping():
                log.warning(
                    "Redis at %s is not answering; serving from memory until it does", redis.url
                )
            purges.start()

        async def close_store() -> None:
            await purges.close()
            await redis.close()

        app.cleanup_ctx.append(_context(open_store, close_store))
    app.cleanup_ctx.append(_context(_nothing, cache.close))
    app.cleanup_ctx.append(_context(identity.start, identity.close))

    async def open_federation() -> None:
        federation = build_federation(config, identity)
        monitor.watch(federation.upstreams)
        runtime.install(federation)

    async def close_federation() -> None:
        await runtime.current().federation.close()

    app.cleanup_ctx.append(_context(open_federation, close_federation))

    async def start_harvest() -> None:
        await harvester.look()
        harvester.start()

    app.cleanup_ctx.append(_context(start_harvest, harvester.close))
    app.cleanup_ctx.append(_context(prober.sync, prober.close))
    app.cleanup_ctx.append(_context(metrics_route.start, metrics_route.close))
    if reload_from is not None:
        reloader = Reloader(
            reload_from,
            runtime,
            monitor=monitor,
            prober=prober,
            identity=identity,
            harvester=harvester,
            metrics=metrics,
        )
        app[RELOADER] = reloader

        async def listen() -> None:
            reloader.listen()

        app.cleanup_ctx.append(_context(listen, reloader.close))

    health = Health(monitor, cache, store, identity, harvester)
    health.add_routes(app.router)
    app.router.add_get("/metrics", metrics_route.handler)
    app.router.add_get("/", StatusPage().index)
    app.router.add_get("/openapi.yaml", openapi)
    for base_path in config.server.base_paths:
        app.add_subapp(base_path, make_trs_app(base_path, answers))
    return app
