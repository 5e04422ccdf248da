"""The outermost middleware: request id, in-flight count, request metrics, access log.

For every request it

* takes the request id from ``X-Request-ID`` if sane, else makes one, sets it
  for the request's context (log lines, upstream calls) and echoes it in the
  response;
* counts the request in flight (metrics, and against the current federation
  so a reload knows when the old one is idle);
* answers from :class:`~gateway.ops.hot.HotAnswers` when it can, and offers it
  every other answer;
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
from .hot import HotAnswers
from .logs import ACCESS_LOG, access_writer
from .metrics import Metrics, route_label

__all__ = ["access_middleware"]

CLIENT_CLOSED = 499
"""Status recorded for a request whose client went away before the answer."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bytes(response: web.StreamResponse | None) -> int | None:
    if response is None:
        return None
    if response.prepared:
        return response.body_length
    return response.content_length


def access_middleware(runtime: Runtime, metrics: Metrics, hot: HotAnswers) -> Middleware:
    """The middleware; it takes the generation in force once per request, into
    ``request[GENERATION]``, and counts the request against it. A request ``hot``
    can answer is answered there, without the rest of the request path."""

    ids = RequestIds()

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = ids.accept(request.headers.get(HEADER))
        token = REQUEST_ID.set(request_id)
        try:
            return await serve(request, handler, request_id)
        finally:
            REQUEST_ID.reset(token)

    async def serve(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
        generation = runtime.current()
        started = time.perf_counter()
        status = 500
        route: str | None = None
        answer: web.StreamResponse | None = None
        try:
            found = await hot.response(request, generation)
            if found is not None:  # answered at once: nothing to count in flight
                answer, route = found
                status = answer.status
                answer.headers[HEADER] = request_id
                return answer
            request[GENERATION] = generation
            metrics.in_flight.inc()
            try:
                with runtime.serving(generation):
                    answer = await handler(request)
            finally:
                metrics.in_flight.dec()
            hot.remember(request, generation, answer)
            status = answer.status
            if not answer.prepared:
                answer.headers[HEADER] = request_id
            return answer
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[HEADER] = request_id
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            seconds = time.perf_counter() - started
            route = route or route_label(request)
            metrics.request_served(route, request.method, status, seconds)
            if generation.config.logging.access_log:
                _log_access(request, answer, status, route, seconds, request_id)

    return access


def _log_access(
    request: web.Request,
    response: web.StreamResponse | None,
    status: int,
    route: str,
    seconds: float,
    request_id: str,
) -> None:
    raw_path = request.raw_path
    path, _, query = raw_path.partition("?")
    fields = {
        "method": request.method,
        "path": path,
        "query": query or None,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "bytes": _bytes(response),
        "cache": response.headers.get("X-Cache") if response is not None else None,
        "remote": request.remote,
        "user_agent": request.headers.get("User-Agent"),
        "request_id": request_id,
    }
    message = f"{request.method} {raw_path} {status}"
    writer = access_writer()
    if writer is not None:
        writer.access(message, fields)
    else:
        logging.getLogger(ACCESS_LOG).info(message, extra=fields)
