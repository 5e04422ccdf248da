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

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["ConnectionGuard", "accept_forever", "listening_socket", "raise_descriptor_limit"]

log = logging.getLogger(__name__)

BACKLOG = 128
"""Connections the kernel queues before the gateway accepts them."""
ACCEPT_BATCH = 32
"""Connections accepted at once, at most, before they are set up."""
DESCRIPTOR_MARGIN = 64 + BACKLOG
"""Descriptors kept free beyond connections: upstream sockets, Redis, files, logs, and
connections closed to make room (their descriptors are released a moment later)."""

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


class ConnectionGuard:
    """Admits connections for a runner's ``web.Server``: the protocol factory of the
    accept loop, and the judge of whether a connection fits."""

    def __init__(self, server: web.Server, max_connections: int, header_timeout: float) -> None:
        self.server = server
        self.max_connections = max_connections
        self.header_timeout = header_timeout

    def full(self, arriving: int = 0) -> bool:
        """Whether one more connection (besides ``arriving`` ones being set up) is too many."""
        return len(self.server.connections) + arriving >= self.max_connections

    def make_room(self) -> bool:
        """Close the oldest connection serving no request; ``False`` if all are busy."""
        for handler in self.server.connections:  # oldest first: kept in arrival order
            closing = getattr(handler, "_force_close", False)
            if not closing and not getattr(handler, "_request_in_progress", True):
                handler.force_close()
                handler.close()
                return True
        return False

    def __call__(self) -> RequestHandler:
        server = self.server
        # aiohttp makes its own handler class; this one differs only in its error page.
        handler = TrsRequestHandler(server, loop=server._loop, **server._kwargs)
        asyncio.get_running_loop().call_later(self.header_timeout, self._unless_asked, handler)
        return handler

    def _unless_asked(self, handler: RequestHandler) -> None:
        still_open = handler in self.server.connections
        if still_open and getattr(handler, "_request_count", 1) == 0:
            handler.force_close()


async def accept_forever(
    listener: socket.socket, guard: ConnectionGuard, stopping: asyncio.Event
) -> None:
    """Accept connections a bounded batch at a time (at most :data:`ACCEPT_BATCH`), so no
    burst of accepts can run the process out of descriptors: a connection that cannot be
    admitted is answered and closed before more are accepted. The connections of a batch
    are set up together, so a burst of clients (a load test, a platform's workers
    starting) waits one turn of the event loop, not one turn per connection before it."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    while not stopping.is_set():
        try:
            connection, _ = await loop.sock_accept(listener)
        except OSError as exc:  # out of descriptors after all: wait, do not spin
            log.warning("accepting a connection failed: %s", exc)
            await asyncio.sleep(0.1)
            continue
        admitted: list[socket.socket] = []
        while True:
            if guard.full(len(admitted)) and not guard.make_room():
                with contextlib.suppress(OSError):
                    connection.setblocking(False)
                    connection.send(_SHED)
                connection.close()
            else:
                admitted.append(connection)
            if len(admitted) >= ACCEPT_BATCH:
                break
            try:  # another connection already waiting, without waiting for one
                connection, _ = listener.accept()
            except OSError:  # none waiting (or out of descriptors: the next turn says so)
                break
        outcomes = await asyncio.gather(
            *(loop.connect_accepted_socket(guard, c) for c in admitted), return_exceptions=True
        )
        for connection, outcome in zip(admitted, outcomes, strict=True):
            if isinstance(outcome, OSError):
                log.info("a connection closed while it was being set up: %s", outcome)
                connection.close()
            elif isinstance(outcome, BaseException):
                connection.close()
                raise outcome


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
