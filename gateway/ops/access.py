"""The outermost middleware: request id, in-flight count, request metrics, access log.

For every request it

* takes the request id from ``X-Request-ID`` if sane, else makes one, sets it
  for the request's context (log lines, upstream calls) and echoes it in the
  response;
* counts the request in flight (metrics, and against the current federation
  so a reload knows when the old one is idle);
* records ``trs_gateway_http_requests_total`` and the duration histogram by
  route template (``/ga4gh/trs/v2/tools/{id}``, not the concrete path);
* writes one access line (logger ``gateway.access``) when ``logging.access_log``
  is on: method, path (as sent, still percent-encoded), query, route, status,
  duration_ms, bytes, cache (the ``X-Cache`` header: HIT, STALE, MISS), remote,
  user_agent, request_id.
  Request headers are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..requestid import HEADER, REQUEST_ID, RequestIds
from ..runtime import GENERATION, Runtime
from .metrics import Metrics

__all__ = ["access_middleware", "route_label"]

ACCESS_LOG = "gateway.access"
CLIENT_CLOSED = 499
"""Status recorded for a request whose client went away before the answer."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    """The route template that matched, or ``unmatched``: a bounded metric label."""
    match_info = request.match_info
    if getattr(match_info, "http_exception", None) is not None:
        return "unmatched"
    route = match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def _bytes(response: web.StreamResponse | None) -> int | None:
    if response is None:
        return None
    if response.prepared:
        return response.body_length
    return response.content_length


def access_middleware(runtime: Runtime, metrics: Metrics) -> Middleware:
    """The middleware; it takes the generation in force once per request, into
    ``request[GENERATION]``, and counts the request against it."""

    ids = RequestIds()

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = ids.accept(request.headers.get(HEADER))
        token = REQUEST_ID.set(request_id)
        generation = runtime.current()
        request[GENERATION] = generation
        started = time.perf_counter()
        status = 500
        response: web.StreamResponse | None = None
        metrics.in_flight.inc()
        try:
            with runtime.serving(generation):
                response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers[HEADER] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[HEADER] = request_id
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.in_flight.dec()
            route = route_label(request)
            metrics.request_served(route, request.method, status, seconds)
            if generation.config.logging.access_log:
                _log_access(request, response, status, route, seconds, request_id)
            REQUEST_ID.reset(token)

    return access


def _log_access(
    request: web.Request,
    response: web.StreamResponse | None,
    status: int,
    route: str,
    seconds: float,
    request_id: str,
) -> None:
    cache = response.headers.get("X-Cache") if response is not None else None
    logging.getLogger(ACCESS_LOG).info(
        "%s %s %d",
        request.method,
        request.raw_path,
        status,
        extra={
            "method": request.method,
            "path": request.raw_path.partition("?")[0],
            "query": request.query_string or None,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "bytes": _bytes(response),
            "cache": cache,
            "remote": request.remote,
            "user_agent": request.headers.get("User-Agent"),
            "request_id": request_id,
        },
    )
