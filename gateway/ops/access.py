"""The outermost layers: request id, in-flight count, request metrics, access log.

Every request is recorded once, by whichever of two layers answers it:

* the **front door** (:meth:`Access.front_door`), the server's own request
  handler, answers a request a hot answer has (:class:`~gateway.ops.hot.HotAnswers`)
  before aiohttp routes it, and hands every other request on to the application;
* the **access middleware** (:attr:`Access.middleware`), the application's
  outermost middleware, serves the rest: it takes the generation in force once,
  into ``request[GENERATION]``, counts the request in flight (metrics, and against
  that generation so a reload knows when the old one is idle), sets the request
  id for the request's context (log lines, upstream calls), and offers the answer
  to the hot answers.

Recording a request means:

* taking the request id from ``X-Request-ID`` if sane, else making one, and
  echoing it in the response;
* ``trs_gateway_http_requests_total`` and the duration histogram by route
  template (``/ga4gh/trs/v2/tools/{id}``, not the concrete path);
* one access line (logger ``gateway.access``) when ``logging.access_log`` is on:
  method, path (as sent, still percent-encoded), query, route, status, bytes,
  cache (the ``X-Cache`` header: HIT, STALE, MISS), duration_ms, remote,
  user_agent, request_id. Request headers are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..cache import Tier
from ..requestid import HEADER, REQUEST_ID, RequestIds
from ..runtime import GENERATION, Runtime
from .hot import HotAnswers
from .logs import ACCESS_LOG, AccessLine, access_writer
from .metrics import Metrics, route_label

__all__ = ["Access"]

CLIENT_CLOSED = 499
"""Status recorded for a request whose client went away before the answer."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def _bytes(response: web.StreamResponse | None) -> int | None:
    if response is None:
        return None
    if response.prepared:
        return response.body_length
    return response.content_length


class Access:
    """Records every request (metrics, access line, request id) and sends hot answers."""

    def __init__(self, runtime: Runtime, metrics: Metrics, hot: HotAnswers) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.hot = hot
        self.ids = RequestIds()
        self.middleware = self._middleware()

    def front_door(self, handler: ServerHandler) -> ServerHandler:
        """A request handler for a ``web.Server`` whose own handler is ``handler`` (the
        application's): requests a hot answer has are answered here, with no routing
        and no middleware; the others are handed on."""
        hot, runtime = self.hot, self.runtime

        async def front(request: web.BaseRequest) -> web.StreamResponse:
            if not hot:
                return await handler(request)
            started = time.perf_counter()
            generation = runtime.current()
            found = hot.find(request, generation)
            if found is None or (found.source is Tier.REDIS and not await hot.confirm(found)):
                return await handler(request)
            response = hot.respond(request, found)
            request_id = self.ids.accept(request.headers.get(HEADER))
            response.headers[HEADER] = request_id
            seconds = time.perf_counter() - started
            self.metrics.request_served(found.route, request.method, response.status, seconds)
            if generation.config.logging.access_log:
                self._log(found.access_line(request, response), request, seconds, request_id)
            return response

        return front

    def _middleware(self) -> Middleware:
        runtime, metrics, hot, ids = self.runtime, self.metrics, self.hot, self.ids

        @web.middleware
        async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
            request_id = ids.accept(request.headers.get(HEADER))
            token = REQUEST_ID.set(request_id)
            generation = runtime.current()
            started = time.perf_counter()
            status = 500
            answer: web.StreamResponse | None = None
            try:
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
                REQUEST_ID.reset(token)
                seconds = time.perf_counter() - started
                route = route_label(request)
                metrics.request_served(route, request.method, status, seconds)
                if generation.config.logging.access_log:
                    self._log_answer(request, answer, status, route, seconds, request_id)

        return access

    def _log_answer(
        self,
        request: web.Request,
        response: web.StreamResponse | None,
        status: int,
        route: str,
        seconds: float,
        request_id: str,
    ) -> None:
        cache = response.headers.get("X-Cache") if response is not None else None
        size = _bytes(response)
        line = AccessLine.of(request.method, request.raw_path, route, status, size, cache)
        self._log(line, request, seconds, request_id)

    @staticmethod
    def _log(line: AccessLine, request: web.BaseRequest, seconds: float, request_id: str) -> None:
        remote, user_agent = request.remote, request.headers.get("User-Agent")
        writer = access_writer()
        if writer is not None:
            writer.access(line, seconds, remote, user_agent, request_id)
        else:
            fields = line.record_fields(seconds, remote, user_agent, request_id)
            logging.getLogger(ACCESS_LOG).info(line.message, extra=fields)
