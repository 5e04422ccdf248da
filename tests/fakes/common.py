"""Machinery shared by the fake upstream registries.

``FakeRegistry`` owns the aiohttp application, records every request and applies the runtime
knobs (``mode``, ``delay``) to every route before the flavor's handler runs.  Each flavor
subclasses it, registers its routes in ``_setup_routes`` and renders ``self.tools`` its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import posixpath
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from aiohttp import web

from .catalog import FakeFile, FakeTool, FakeVersion

MODES = ("ok", "error500", "hang", "html", "badjson", "empty200")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
    "<body><h1>We'll be back soon</h1><p>The registry is down for maintenance.</p>"
    "</body></html>\n"
)


@dataclass
class RecordedRequest:
    """One request as the fake saw it. ``path`` is the raw, still percent-encoded path."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class TrsHandlers(Protocol):
    """The eleven TRS v2 GET operations a flavor implements."""

    async def service_info(self, request: web.Request) -> web.StreamResponse: ...
    async def tool_classes(self, request: web.Request) -> web.StreamResponse: ...
    async def list_tools(self, request: web.Request) -> web.StreamResponse: ...
    async def get_tool(self, request: web.Request) -> web.StreamResponse: ...
    async def list_versions(self, request: web.Request) -> web.StreamResponse: ...
    async def get_version(self, request: web.Request) -> web.StreamResponse: ...
    async def containerfile(self, request: web.Request) -> web.StreamResponse: ...
    async def descriptor(self, request: web.Request) -> web.StreamResponse: ...
    async def files(self, request: web.Request) -> web.StreamResponse: ...
    async def tests(self, request: web.Request) -> web.StreamResponse: ...


class FakeRegistry:
    """A fake TRS upstream: ``.app`` to serve, ``.requests`` to inspect, knobs to flip.

    Runtime knobs (plain attributes, change them at any time):

    * ``mode``: one of ``MODES`` ("ok", "error500", "hang", "html", "badjson", "empty200"),
      applied to every route;
    * ``delay``: seconds slept before answering any request;
    * ``list_delay``: extra seconds slept before answering ``GET /tools`` only (slow listings);
    * ``hang_seconds``: how long "hang" sleeps (default 60; cut short when the server shuts down);
    * ``tools``: the catalogue (the list given to the constructor, not a copy).

    Flavors add their own knobs through ``EXTRA_KNOBS``.
    """

    flavor: ClassVar[str] = ""
    BASE_PATH: ClassVar[str] = ""
    EXTRA_KNOBS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, tools: list[FakeTool], **knobs: Any) -> None:
        self.tools: list[FakeTool] = tools
        self.base_path: str = self.BASE_PATH
        self.requests: list[RecordedRequest] = []
        self.mode: str = "ok"
        self.delay: float = 0.0
        self.list_delay: float = 0.0
        self.hang_seconds: float = 60.0
        for name, default in self.EXTRA_KNOBS.items():
            setattr(self, name, default)
        allowed = {"mode", "delay", "list_delay", "hang_seconds", *self.EXTRA_KNOBS}
        unknown = sorted(set(knobs) - allowed)
        if unknown:
            raise TypeError(f"unknown knob(s) for {self.flavor!r} registry: {unknown}")
        for name, value in knobs.items():
            setattr(self, name, value)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        self._release = asyncio.Event()
        self.app: web.Application = web.Application(middlewares=[self._middleware])
        self.app.on_shutdown.append(self._on_shutdown)
        self._setup_routes()

    # ------------------------------------------------------------------ plumbing

    def _setup_routes(self) -> None:
        raise NotImplementedError

    def add_trs_routes(self, prefix: str, h: TrsHandlers) -> None:
        """Register the standard TRS v2 route table under ``prefix`` (GET, HEAD implied)."""
        add = self.app.router.add_get
        tool = prefix + "/tools/{id}"
        version = tool + "/versions/{version_id}"
        add(prefix + "/service-info", h.service_info)
        add(prefix + "/toolClasses", h.tool_classes)
        add(prefix + "/tools", self._slow_listing(h.list_tools))
        add(tool, h.get_tool)
        add(tool + "/versions", h.list_versions)
        add(version, h.get_version)
        add(version + "/containerfile", h.containerfile)
        add(version + "/{type}/descriptor", h.descriptor)
        add(version + "/{type}/descriptor/{relative_path:.+}", h.descriptor)
        add(version + "/{type}/files", h.files)
        add(version + "/{type}/tests", h.tests)

    def _slow_listing(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if self.list_delay > 0:
                await asyncio.sleep(self.list_delay)
            return await handler(request)

        return wrapped

    def route_not_found(self, request: web.Request) -> web.StreamResponse:
        """Answer for a path no route matches; flavors override with their server's 404."""
        return json_response({"code": 404, "message": "Not Found"}, status=404)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        mode = self.mode
        if mode == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), timeout=self.hang_seconds)
            return web.Response(status=503, text="hung request released")
        if mode == "error500":
            return json_response({"code": 500, "message": "Internal Server Error"}, status=500)
        if mode == "html":
            return web.Response(text=HTML_PAGE, content_type="text/html")
        if mode == "badjson":
            return web.Response(text='[{"id": "truncated', content_type="application/json")
        if mode == "empty200":
            return web.Response(body=b"", content_type="application/json")
        unmatched = getattr(request.match_info, "http_exception", None)
        if isinstance(unmatched, web.HTTPNotFound):
            return self.route_not_found(request)
        return await handler(request)

    async def _on_shutdown(self, app: web.Application) -> None:
        self._release.set()

    def release_hanging(self) -> None:
        """Let every request currently stuck in mode "hang" finish (with a 503)."""
        self._release.set()
        self._release = asyncio.Event()

    # ------------------------------------------------------------------ catalogue lookups

    def find_tool(self, tool_id: str) -> FakeTool | None:
        for tool in self.tools:
            if tool.id == tool_id:
                return tool
        return None

    def request_count(self, path_contains: str = "", method: str | None = None) -> int:
        """How many recorded requests have ``path_contains`` in their raw path."""
        return sum(
            1
            for r in self.requests
            if path_contains in r.path and (method is None or r.method == method)
        )


# ---------------------------------------------------------------------- responses


def dump_json(data: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(data, sort_keys=sort_keys, ensure_ascii=False)


def json_response(
    data: Any,
    status: int = 200,
    *,
    sort_keys: bool = False,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """JSON body with an exact Content-Type header (e.g. Dockstore's ``;charset=utf-8``)."""
    all_headers = {"Content-Type": content_type, **(headers or {})}
    return web.Response(
        body=dump_json(data, sort_keys=sort_keys).encode(), status=status, headers=all_headers
    )


def empty_response(status: int, reason: str | None = None) -> web.Response:
    """A response without any body (no Content-Type either)."""
    return web.Response(status=status, reason=reason)


def text_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/plain", charset="utf-8")


def zip_response(
    files: Iterable[FakeFile], filename: str, content_type: str = "application/zip"
) -> web.Response:
    return web.Response(
        body=build_zip(files),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def build_zip(files: Iterable[FakeFile]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.writestr(f.path.lstrip("/"), f.content)
    return buf.getvalue()


def page_link(request: web.Request, **params: object) -> str:
    """Absolute URL of ``request`` with some query parameters replaced (None drops one)."""
    query: dict[str, str] = dict(request.query)
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return str(request.url.with_query(query))


def origin(request: web.Request) -> str:
    """``scheme://host:port`` of the request as the client addressed it."""
    return str(request.url.origin())


# ---------------------------------------------------------------------- helpers


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_int(value: str | None) -> int | None:
    """``int(value)`` or None when absent/not an integer."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def find_version(
    tool: FakeTool, version_id: str, key: Callable[[int, FakeVersion], str], *, fold: bool = False
) -> FakeVersion | None:
    """The version whose path id (``key(index, version)``) equals ``version_id``."""
    for index, version in enumerate(tool.versions):
        candidate = key(index, version)
        if candidate == version_id or (fold and candidate.lower() == version_id.lower()):
            return version
    return None


def primary_dir(version: FakeVersion) -> str:
    primary = version.primary
    return posixpath.dirname(primary.path) if primary else ""


def relative_to_primary(version: FakeVersion, file: FakeFile) -> str:
    """Path of ``file`` relative to the primary descriptor's directory (as TRS paths are)."""
    base = primary_dir(version)
    if base and (file.path + "/").startswith(base + "/"):
        return file.path[len(base) + 1 :]
    return file.path


def resolve_relative_path(
    version: FakeVersion, relative_path: str, *, fold_case: bool = False
) -> FakeFile | None:
    """Find a file by TRS ``relative_path``: relative to the primary descriptor's directory.

    With a leading '/', the path is first tried from the repository root (Dockstore's reading).
    """

    def norm(path: str) -> str:
        path = posixpath.normpath(path).lstrip("/")
        return path.lower() if fold_case else path

    candidates: list[str] = []
    stripped = relative_path.lstrip("/")
    if relative_path.startswith("/"):
        candidates.append(stripped)
    candidates.append(posixpath.join(primary_dir(version), stripped))
    for candidate in candidates:
        wanted = norm(candidate)
        for f in version.files:
            if norm(f.path) == wanted:
                return f
    return None


def java_url_decode(value: str) -> str:
    """``java.net.URLDecoder.decode(value, UTF-8)``: '+' is a space, '%XX' decoded.

    Raises ValueError on a '%' not followed by two hex digits, like Java's
    IllegalArgumentException.
    """
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "+":
            out += b" "
            i += 1
        elif ch == "%":
            pair = value[i + 1 : i + 3]
            if len(pair) < 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                raise ValueError(f"URLDecoder: Illegal hex characters in escape (%) pattern {pair}")
            out.append(int(pair, 16))
            i += 3
        else:
            out += ch.encode()
            i += 1
    return out.decode("utf-8", errors="replace")


def java_url_encode(value: str) -> str:
    """``java.net.URLEncoder.encode(value, UTF-8)``: space -> '+', keeps ``A-Za-z0-9.-*_``."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")
    parts: list[str] = []
    for byte in value.encode():
        if byte in safe:
            parts.append(chr(byte))
        elif byte == 0x20:
            parts.append("+")
        else:
            parts.append(f"%{byte:02X}")
    return "".join(parts)


def descriptor_type_version(version: FakeVersion) -> dict[str, list[str]]:
    """``{"CWL": ["v1.2"]}`` read from the primary descriptor (only the first type is keyed)."""
    if not version.descriptor_types:
        return {}
    kind = version.descriptor_types[0]
    primary = version.primary
    found: list[str] = []
    if primary is not None:
        for line in primary.content.splitlines():
            stripped = line.strip()
            if kind == "CWL" and stripped.startswith("cwlVersion:"):
                found = [stripped.split(":", 1)[1].strip().strip("'\"")]
                break
            if kind == "WDL" and stripped.startswith("version "):
                found = [stripped.split(None, 1)[1].strip()]
                break
    return {kind: found}
