"""A generic TRS 2.0.1 registry that misbehaves on purpose, one fault at a time.

``FaultyRegistry.fault`` (change it at any time) switches every TRS route:

=====================  ===================================================================
fault                  what every route does
=====================  ===================================================================
``none``               answers normally (the catalogue of ``faulty_catalogue()``)
``reset``              headers with a Content-Length larger than the body, half the body,
                       then the connection is closed
``hang``               sends nothing until the client goes away or the server shuts down
``trickle``            200 and headers, then the normal body one byte every 0.5 s
``500``                500 with a TRS error body
``503-retry-after``    503 with ``Retry-After: 7``
``429``                429 with ``Retry-After: 7``
``html``               200 ``text/html`` maintenance page
``badjson``            200 ``application/json`` that is not JSON
``wrongshape``         valid JSON of the wrong shape: ``[object]`` for an object,
                       ``{"items": list}`` for a list (raw files and zips unchanged)
``nulls``              the normal objects with every optional field null, and also the
                       Tool's ``id`` and ``versions`` and the ToolVersion's ``id``
``204``                204 No Content
``oversized``          the normal answer padded to 3 MiB (JSON with whitespace, text with
                       trailing spaces, zips with a stored padding member)
``gzipbomb``           ``Content-Encoding: gzip``, ~200 KiB that inflate to a 200 MiB JSON
``redirect-loop``      302 to itself
``redirect-away``      302 to the same path on ``redirect_to`` (a canary server)
``crlf``               normal, but every version also holds ``CRLF_PATH`` ("\\r\\n" and an
                       ``X-Evil: 1`` header in a file path), listed and served
``huge-listing``       ``/tools`` holds 100,000 small tools, paged by offset/limit
``huge-listing-all``   the same, but every answer is all 100,000 tools whatever was asked
=====================  ===================================================================

A refused connection is not a behaviour of this server: point the gateway at
``tests.conftest.free_port()`` instead.  ``Canary`` is the server ``redirect-away`` points at;
it records every connection and request it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import zipfile
import zlib
from dataclasses import replace
from typing import Any, ClassVar

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.web_protocol import RequestHandler
from yarl import URL

from tests.samples import WORDCOUNT_MAIN, WORDCOUNT_WC

from . import ServerFactory
from .catalog import FakeFile, FakeTool, FakeVersion
from .common import HTML_PAGE, Handler, RecordedRequest, json_response, page_link, parse_int
from .generic import GenericRegistry

FAULTS = (
    "none",
    "reset",
    "hang",
    "trickle",
    "500",
    "503-retry-after",
    "429",
    "html",
    "badjson",
    "wrongshape",
    "nulls",
    "204",
    "oversized",
    "gzipbomb",
    "redirect-loop",
    "redirect-away",
    "crlf",
    "huge-listing",
    "huge-listing-all",
)

RETRY_AFTER = "7"
CRLF_PATH = "tools/a\r\nX-Evil: 1.cwl"
OVERSIZED_BYTES = 3 * 1024 * 1024
BOMB_INFLATED_BYTES = 200 * 1024 * 1024
HUGE_LISTING_SIZE = 100_000
TRICKLE_INTERVAL = 0.5

MAIN_CWL, WC_CWL = WORDCOUNT_MAIN, WORDCOUNT_WC
"""The wordcount workflow of the other fakes: a primary descriptor importing tools/wc.cwl."""

# Required fields per TRS 2.0.1; "nulls" keeps these (except the ids and versions).
TOOL_REQUIRED = frozenset({"organization", "toolclass", "url"})
VERSION_REQUIRED = frozenset({"url"})
CHECKSUM_REQUIRED = frozenset({"checksum", "type"})


def faulty_catalogue() -> list[FakeTool]:
    """Tool ``T1``, version ``1``: ``main.cwl`` (primary) importing ``tools/wc.cwl``."""
    version = FakeVersion(
        name="1",
        descriptor_types=["CWL"],
        files=[
            FakeFile("main.cwl", MAIN_CWL, "PRIMARY_DESCRIPTOR"),
            FakeFile("tools/wc.cwl", WC_CWL, "SECONDARY_DESCRIPTOR"),
        ],
        author=["Mallory"],
    )
    return [
        FakeTool(
            id="T1",
            name="wordcount",
            description="Counts lines (served by a misbehaving registry)",
            organization="evil-org",
            versions=[version],
        )
    ]


class FaultyRegistry(GenericRegistry):
    """``GenericRegistry`` plus the ``fault`` knob (see the module docstring).

    Knobs: ``fault`` (one of ``FAULTS``), ``redirect_to`` (origin for "redirect-away",
    e.g. ``http://127.0.0.1:1234``), and the common ones of ``FakeRegistry``.
    """

    flavor: ClassVar[str] = "faulty"
    EXTRA_KNOBS: ClassVar[dict[str, Any]] = {"fault": "none", "redirect_to": ""}

    def __init__(self, tools: list[FakeTool] | None = None, **knobs: Any) -> None:
        self._fault = "none"
        self.redirect_to = ""
        super().__init__(faulty_catalogue() if tools is None else tools, **knobs)
        # Runs inside FakeRegistry's middleware, so requests are still recorded.
        self.app.middlewares.append(self._fault_middleware)

    def _setup_routes(self) -> None:
        super()._setup_routes()
        # The standard ``{relative_path:.+}`` does not match a path holding a line break.
        version = self.BASE_PATH + "/tools/{id}/versions/{version_id}"
        self.app.router.add_get(
            version + "/{type}/descriptor/{relative_path:[\\s\\S]+}", self.descriptor
        )

    @property
    def fault(self) -> str:
        return self._fault

    @fault.setter
    def fault(self, value: str) -> None:
        if value not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, not {value!r}")
        if value == "gzipbomb":
            gzip_bomb()  # built once, before the first request needs it
        self._fault = value

    # ------------------------------------------------------------------ catalogue faults

    def find_tool(self, tool_id: str) -> FakeTool | None:
        tool = super().find_tool(tool_id)
        if tool is None or self.fault != "crlf":
            return tool
        evil = FakeFile(CRLF_PATH, WC_CWL, "SECONDARY_DESCRIPTOR")
        versions = [replace(v, files=[*v.files, evil]) for v in tool.versions]
        return replace(tool, versions=versions)

    async def list_tools(self, request: web.Request) -> web.StreamResponse:
        if self.fault == "huge-listing":
            return huge_listing(request, paged=True)
        if self.fault == "huge-listing-all":
            return huge_listing(request, paged=False)
        return await super().list_tools(request)

    # ------------------------------------------------------------------ transport faults

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.fault
        if fault == "hang":
            await self._wait_while_connected(request, seconds=self.hang_seconds)
            return web.Response(status=503, text="hung request released")
        if fault == "500":
            return trs_error(500, "Internal Server Error")
        if fault in ("503-retry-after", "429"):
            status = int(fault[:3])
            return trs_error(status, "Slow down", headers={"Retry-After": RETRY_AFTER})
        if fault == "html":
            return web.Response(text=HTML_PAGE, content_type="text/html")
        if fault == "badjson":
            return web.Response(
                text='{"id": "T1", "versions": [{"na', content_type="application/json"
            )
        if fault == "204":
            return web.Response(status=204)
        if fault == "redirect-loop":
            raise web.HTTPFound(request.path_qs)
        if fault == "redirect-away":
            raise web.HTTPFound(f"{self.redirect_to.rstrip('/')}{request.path_qs}")
        if fault == "gzipbomb":
            return web.Response(
                body=gzip_bomb(),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        response = await handler(request)
        if not isinstance(response, web.Response) or response.body is None:
            return response
        body = bytes(response.body)  # type: ignore[arg-type]
        if fault == "reset":
            return await self._reset(request, response, body)
        if fault == "trickle":
            return await self._trickle(request, response, body)
        if fault == "oversized":
            response.body = oversized(body, response.content_type)
        elif response.content_type == "application/json" and fault in ("wrongshape", "nulls"):
            data = json.loads(body)
            if fault == "wrongshape":
                data = {"items": data} if isinstance(data, list) else [data]
            elif not request.path.endswith("/service-info"):
                data = nulled(data)
            response.body = json.dumps(data).encode()
        return response

    async def _reset(
        self, request: web.Request, normal: web.Response, body: bytes
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": normal.content_type, "Content-Length": str(len(body) + 4096)},
        )
        await response.prepare(request)
        await response.write(body[: max(len(body) // 2, 1)])
        transport = request.transport
        if transport is not None:
            transport.close()  # flushes what was written, then FIN mid-body
        return response

    async def _trickle(
        self, request: web.Request, normal: web.Response, body: bytes
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": normal.content_type, "Content-Length": str(len(body))},
        )
        await response.prepare(request)
        try:
            for index in range(len(body)):
                await response.write(body[index : index + 1])
                if await self._wait_while_connected(request, seconds=TRICKLE_INTERVAL):
                    break
        except ConnectionError:
            pass  # the client gave up
        return response

    async def _wait_while_connected(self, request: web.Request, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (early) once the client is gone or the server stops."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        release = self._release
        while (left := until - loop.time()) > 0:
            transport = request.transport
            if release.is_set() or transport is None or transport.is_closing():
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), timeout=min(left, 0.05))
        return False


# ---------------------------------------------------------------------- bodies


def trs_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"code": status, "message": message}, status=status, headers=headers)


def nulled(value: Any) -> Any:
    """The TRS objects in ``value`` with every optional field null; Tool ``id`` and
    ``versions`` and ToolVersion ``id`` null too."""
    if isinstance(value, list):
        return [nulled(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "toolclass" in value:
        keep = TOOL_REQUIRED
    elif "descriptor_type" in value:
        keep = VERSION_REQUIRED
    elif set(value) == CHECKSUM_REQUIRED:
        keep = CHECKSUM_REQUIRED
    else:  # ToolClass, ToolFile, FileWrapper: nothing is required
        keep = frozenset()
    return {key: nulled(item) if key in keep else None for key, item in value.items()}


def oversized(body: bytes, content_type: str) -> bytes:
    """``body`` padded to ``OVERSIZED_BYTES`` without changing what it means."""
    padding = max(OVERSIZED_BYTES - len(body), 0)
    if content_type == "application/json":
        return body[:1] + b" " * padding + body[1:]  # JSON whitespace after the first bracket
    if content_type == "application/zip":
        buffer = io.BytesIO(body)
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
            archive.writestr("padding.txt", b" " * padding)
        return buffer.getvalue()
    return body + b" " * padding


@functools.cache
def gzip_bomb() -> bytes:
    """``{"id":"T1","padding":"000…"}`` of ``BOMB_INFLATED_BYTES``, gzipped (built once, in
    1 MiB chunks, so the inflated text is never held in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    head, tail = b'{"id":"T1","padding":"', b'"}'
    chunk = b"0" * (1024 * 1024)
    parts = [compressor.compress(head)]
    remaining = BOMB_INFLATED_BYTES - len(head) - len(tail)
    while remaining > 0:
        parts.append(compressor.compress(chunk[: min(remaining, len(chunk))]))
        remaining -= len(chunk)
    parts.append(compressor.compress(tail))
    parts.append(compressor.flush())
    return b"".join(parts)


@functools.lru_cache(maxsize=4)
def _huge_tools(origin: str, start: int, stop: int) -> bytes:
    template = (
        '{"id":"H%06d","url":"' + origin + '/ga4gh/trs/v2/tools/H%06d",'
        '"toolclass":{"id":"1","name":"Workflow","description":"Workflow"},'
        '"organization":"huge","name":"huge tool %d","description":"one of many",'
        '"aliases":[],"has_checker":false,"checker_url":"","meta_version":"1","versions":[]}'
    )
    return ("[" + ",".join(template % (i, i, i) for i in range(start, stop)) + "]").encode()


def huge_listing(request: web.Request, *, paged: bool) -> web.Response:
    """``HUGE_LISTING_SIZE`` tools ``H000000``…; ``paged``: honour offset and limit."""
    start, stop = 0, HUGE_LISTING_SIZE
    headers: dict[str, str] = {}
    if paged:
        start = min(max(parse_int(request.query.get("offset")) or 0, 0), HUGE_LISTING_SIZE)
        limit = max(parse_int(request.query.get("limit")) or 1000, 1)
        stop = min(start + limit, HUGE_LISTING_SIZE)
        headers = {"current_offset": str(start), "current_limit": str(limit)}
        if stop < HUGE_LISTING_SIZE:
            headers["next_page"] = page_link(request, offset=stop, limit=limit)
    origin = str(request.url.origin())
    return web.Response(
        body=_huge_tools(origin, start, stop),
        headers={"Content-Type": "application/json", **headers},
    )


# ---------------------------------------------------------------------- the canary


class Canary:
    """A server nobody may reach: records every connection and every request it gets."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[RecordedRequest] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._record)

    def count_connections(self, server: TestServer) -> None:
        """Count every connection ``server`` (serving ``self.app``) accepts from now on."""
        assert server.runner is not None and server.runner.server is not None
        web_server = server.runner.server
        accept = web_server.connection_made

        def counted(handler: RequestHandler, transport: asyncio.Transport) -> None:
            self.connections += 1
            accept(handler, transport)

        web_server.connection_made = counted  # type: ignore[method-assign]

    @property
    def contacted(self) -> bool:
        return self.connections > 0 or bool(self.requests)

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        return web.Response(text="canary")


# ---------------------------------------------------------------------- starting them


async def start_faulty(
    aiohttp_server: ServerFactory, fault: str = "none", **knobs: Any
) -> tuple[FaultyRegistry, str]:
    """Start a ``FaultyRegistry`` on loopback; return it and its TRS base URL."""
    registry = FaultyRegistry(fault=fault, **knobs)
    server = await aiohttp_server(registry.app)
    return registry, str(server.make_url(registry.base_path))


async def start_canary(aiohttp_server: ServerFactory) -> tuple[Canary, str]:
    """Start a ``Canary`` on loopback; return it and its origin (``http://127.0.0.1:port``)."""
    canary = Canary()
    server = await aiohttp_server(canary.app)
    canary.count_connections(server)
    return canary, str(URL(str(server.make_url("/"))).origin())
