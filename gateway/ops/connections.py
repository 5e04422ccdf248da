"""Connection hygiene for ``serve``: a bounded number of connections, none of them idle forever.

* A connection that has not sent a complete request within
  ``server.header_timeout`` seconds of opening is closed (half-sent requests,
  connections opened and left silent).
* Keep-alive connections close after ``server.keepalive_timeout`` idle seconds
  (aiohttp's own timer).
* At most ``server.max_connections`` are open at once, kept well below the
  process's file-descriptor limit. When a new one arrives at the limit, the
  oldest connection that is not serving a request is closed to make room, so
  an idle flood never locks real clients out; only when every connection is
  busy is the new one answered ``503`` with ``Retry-After`` and closed at once.

At start the soft file-descriptor limit is raised to the hard one, and both are
logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = [
    "ConnectionGuard",
    "accept_forever",
    "guard",
    "listening_socket",
    "raise_descriptor_limit",
]

log = logging.getLogger(__name__)

BACKLOG = 128
"""Connections the kernel queues, and the most the event loop accepts in one go."""
DESCRIPTOR_MARGIN = 64 + BACKLOG
"""Descriptors kept free beyond connections: upstream sockets, Redis, files, logs, and a
burst of accepts (each holds a descriptor until it is admitted or shed)."""

_SHED_BODY = orjson.dumps(
    {"code": 503, "message": "the gateway is at its connection limit; try again shortly"}
)
_SHED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_SHED_BODY)).encode() + b"\r\n\r\n" + _SHED_BODY
)


def raise_descriptor_limit() -> int:
    """Raise the soft file-descriptor limit to the hard one; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the file-descriptor limit from %d to %d: %s", soft, hard, exc)
            return soft
        log.info("file-descriptor limit raised from %d to %d (the hard limit)", soft, hard)
        return hard
    log.info("file-descriptor limit %d (soft) / %d (hard)", soft, hard)
    return soft


class TrsRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what its HTTP parser refuses (a 100 KB
    header, 200 headers, a malformed request line) as a TRS ``Error`` JSON body, logged
    as one line rather than a traceback."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("error serving a request from %s", request.remote, exc_info=exc)
            text = "internal error"
        else:
            text = _reason(exc, message)
            log.info("refused a malformed request from %s: %s", request.remote, text)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had begun; the error cannot be sent")
        response = web.Response(
            status=status,
            body=orjson.dumps({"code": status, "message": text}),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )
        response.force_close()
        return response


def _reason(exc: BaseException | None, message: str | None) -> str:
    detail = getattr(exc, "message", None) or message or str(exc or "") or "bad request"
    return "malformed HTTP request: " + " ".join(str(detail).split())[:200]


class _Shed(asyncio.Protocol):
    """Answers 503 and closes: for a connection beyond the limit with every slot busy."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_SHED)
        transport.close()


class ConnectionGuard:
    """Stands in for a runner's ``web.Server`` as the protocol factory of its sites."""

    def __init__(self, server: web.Server, max_connections: int, header_timeout: float) -> None:
        self.server = server
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.shed = 0
        self.evicted = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)

    def full(self) -> bool:
        return len(self.server.connections) >= self.max_connections

    def make_room(self) -> bool:
        """Close the oldest connection serving no request; ``False`` if all are busy."""
        return self._evict(list(self.server.connections))

    def __call__(self) -> asyncio.Protocol:
        if self.full() and not self.make_room():
            self.shed += 1
            return _Shed()
        server = self.server
        # aiohttp makes its own handler class; this one differs only in its error page.
        handler = TrsRequestHandler(server, loop=server._loop, **server._kwargs)
        loop = asyncio.get_running_loop()
        loop.call_later(self.header_timeout, self._unless_asked, handler)
        return handler

    def _evict(self, handlers: list[RequestHandler]) -> bool:
        """Close the oldest connection serving no request; ``False`` if all are busy."""
        for handler in handlers:  # oldest first: the server keeps them in arrival order
            if not getattr(handler, "_request_in_progress", True):
                handler.force_close()
                handler.close()
                self.evicted += 1
                return True
        return False

    def _unless_asked(self, handler: RequestHandler) -> None:
        still_open = handler in self.server.connections
        if still_open and getattr(handler, "_request_count", 1) == 0:
            handler.force_close()


async def accept_forever(
    listener: socket.socket, guard: ConnectionGuard, stopping: asyncio.Event
) -> None:
    """Accept connections one at a time, so no burst of accepts can run the process out of
    descriptors: a connection that cannot be admitted is answered and closed before the
    next one is accepted."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    while not stopping.is_set():
        try:
            connection, _ = await loop.sock_accept(listener)
        except OSError as exc:  # out of descriptors after all: wait, do not spin
            log.warning("accepting a connection failed: %s", exc)
            await asyncio.sleep(0.1)
            continue
        if guard.full() and not guard.make_room():
            guard.shed += 1
            with contextlib.suppress(OSError):
                connection.setblocking(False)
                connection.send(_SHED)
            connection.close()
            continue
        try:
            await loop.connect_accepted_socket(guard, connection)
        except OSError as exc:
            log.info("a connection closed while it was being set up: %s", exc)
            connection.close()


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket (``SO_REUSEPORT`` for ``serve --workers``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(BACKLOG)
    return listener


def guard(runner: web.AppRunner, max_connections: int, header_timeout: float) -> ConnectionGuard:
    """Put a :class:`ConnectionGuard` between ``runner``'s server and its sites (after
    ``setup()``, before any site starts)."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up first")
    guarded = ConnectionGuard(server, max_connections, header_timeout)
    runner._server = guarded  # type: ignore[assignment]  # the sites read runner.server
    return guarded
