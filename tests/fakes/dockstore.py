"""Fake Dockstore (dockstore/dockstore ToolsApiServiceImpl behaviour, upstreams.md section 2).

Quirks reproduced:

* base ``/api/ga4gh/trs/v2`` (+ the v2 beta prefix ``/api/api/ga4gh/v2`` cwltool still uses);
* ids like ``#workflow/github.com/org/repo`` must arrive percent-encoded; after the framework
  decoded the path, the id and version are decoded AGAIN with ``java.net.URLDecoder``
  ('+' becomes a space, '%XX' decoded once more, a stray '%' -> 400 JSON "Could not decode ...");
  ids need >= 3 '/'-separated segments after the ``#workflow`` prefix, else 400 JSON;
* ``offset`` is a PAGE NUMBER (start = offset * limit); ``limit`` defaults to 100 and is silently
  capped at 100; a non-integer offset -> 400, ``limit`` < 1 -> 400;
* headers ``current_offset`` (only if sent), ``current_limit``, ``self_link``, ``next_page`` (only
  if more), ``last_page`` (= total // limit, one page past the end on exact multiples);
* JSON keys sorted alphabetically; ``Content-Type: application/json;charset=utf-8``;
* ``ToolVersion.id`` is ``"<toolId>:<versionName>"``, the path segment is the version NAME
  (case-sensitive for ``/versions/{v}`` and ``/files``, case-insensitive for descriptor, tests
  and containerfile); versions without a descriptor type are hidden;
* 404s have an EMPTY body; knob ``files_204=True`` answers 204 for ``/files`` of an unknown
  version (servers before PR #6114);
* ``{type}`` accepts CWL/WDL/NFL/GALAXY/SMK/JUPYTER, ``PLAIN_X`` and legacy ``plain-X``
  case-insensitively (``Accept: text/plain`` also unwraps); anything else -> 400 JSON;
* descriptor ``relative_path`` encoded or literal, with or without leading '/', matched
  case-insensitively; FileWrapper has Dockstore's extra fields and a raw.githubusercontent
  URL containing '//';
* ``/files`` ToolFile list sorted by path with a single checksum object; ``?format=zip`` or
  ``Accept: application/zip`` gives a zip (knob ``zip_as_json=True`` labels it
  ``application/json;charset=utf-8`` like issue #6010), ``format=zip`` with
  ``Accept: application/json`` -> 400;
* CORS: echoes ``Origin`` with ``Access-Control-Allow-Credentials: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from aiohttp import web

from .catalog import FakeFile, FakeTool, FakeVersion
from .common import (
    FakeRegistry,
    descriptor_type_version,
    dump_json,
    empty_response,
    java_url_decode,
    java_url_encode,
    page_link,
    parse_int,
    relative_to_primary,
    resolve_relative_path,
    sha256_hex,
    text_response,
    zip_response,
)

PUBLIC_BASE = "https://dockstore.example/api/ga4gh/trs/v2"
BETA_PREFIX = "/api/api/ga4gh/v2"
JSON_TYPE = "application/json;charset=utf-8"
TOOL_CLASSES = {"CommandLineTool": "0", "Workflow": "1", "Service": "2", "Notebook": "3"}
DESCRIPTOR_TYPES = ("CWL", "WDL", "NFL", "GALAXY", "SMK", "JUPYTER")
TYPE_ERROR = "path param type must be one of [{}]".format(
    ", ".join([*DESCRIPTOR_TYPES, *(f"PLAIN_{t}" for t in DESCRIPTOR_TYPES)])
)
ID_PREFIXES = ("#workflow", "#service", "#notebook")
DEFAULT_LIMIT = 100
MAX_LIMIT = 100
META_VERSION = "2024-12-05 18:21:07.123"
VERSION_META_VERSION = "2024-12-05 18:21:07.0"


def ds_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Dockstore JSON: alphabetically sorted keys, ``application/json;charset=utf-8``."""
    return web.Response(
        body=dump_json(data, sort_keys=True).encode(),
        status=status,
        headers={"Content-Type": JSON_TYPE, **(headers or {})},
    )


def ds_error(status: int, message: str) -> web.Response:
    """Dropwizard validation-style error body."""
    return ds_json({"code": status, "message": message}, status=status)


def id_segments(tool_id: str) -> list[str]:
    """Dockstore's ParsedRegistryID: split on '/', drop empties and the ``#workflow`` prefix."""
    segments = [s for s in tool_id.split("/") if s]
    if segments and segments[0].lower() in ID_PREFIXES:
        segments = segments[1:]
    return segments


def parse_type(raw: str) -> tuple[str, bool] | None:
    """``(descriptor type, plain?)`` for CWL, PLAIN_CWL, plain-cwl, ... or None."""
    upper = raw.upper()
    plain = False
    for prefix in ("PLAIN_", "PLAIN-"):
        if upper.startswith(prefix):
            upper, plain = upper[len(prefix) :], True
            break
    if upper == "GXFORMAT2":
        upper = "GALAXY"
    return (upper, plain) if upper in DESCRIPTOR_TYPES else None


def listing_order(tool: FakeTool) -> int:
    """Dockstore concatenates tools, workflows, GitHub-App tools, services, notebooks."""
    if tool.toolclass == "CommandLineTool":
        return 2 if tool.id.startswith("github.com/") else 0
    return {"Workflow": 1, "Service": 3, "Notebook": 4}.get(tool.toolclass, 1)


class DockstoreRegistry(FakeRegistry):
    flavor: ClassVar[str] = "dockstore"
    BASE_PATH: ClassVar[str] = "/api/ga4gh/trs/v2"
    EXTRA_KNOBS: ClassVar[dict[str, Any]] = {"files_204": False, "zip_as_json": False}

    files_204: bool
    zip_as_json: bool
    started_at: datetime

    def _setup_routes(self) -> None:
        self.started_at = datetime.now(UTC)
        self.add_trs_routes(self.BASE_PATH, self)
        self.add_trs_routes(BETA_PREFIX, self)
        self.app.on_response_prepare.append(self._cors)

    async def _cors(self, request: web.Request, response: web.StreamResponse) -> None:
        if "Origin" in request.headers:
            response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
            response.headers["Access-Control-Allow-Credentials"] = "true"

    def route_not_found(self, request: web.Request) -> web.StreamResponse:
        return ds_error(404, "HTTP 404 Not Found")

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def visible_versions(tool: FakeTool) -> list[FakeVersion]:
        """Versions without a descriptor type are dropped from TRS output."""
        return [v for v in tool.versions if v.descriptor_types]

    @staticmethod
    def tool_url(tool: FakeTool) -> str:
        return f"{PUBLIC_BASE}/tools/{quote(tool.id, safe='')}"

    def _toolclass(self, name: str) -> dict[str, str]:
        return {"description": name, "id": TOOL_CLASSES.get(name, "1"), "name": name}

    def _version_json(self, tool: FakeTool, version: FakeVersion) -> dict[str, Any]:
        return {
            "author": list(version.author),
            "containerfile": bool(version.files_of_type("CONTAINERFILE")),
            "descriptor_type": list(version.descriptor_types),
            "descriptor_type_version": descriptor_type_version(version),
            "id": f"{tool.id}:{version.name}",
            "images": list(version.images),
            "included_apps": [],
            "is_production": version.is_production,
            "meta_version": VERSION_META_VERSION,
            "name": version.name,
            "signed": False,
            "url": f"{self.tool_url(tool)}/versions/{java_url_encode(version.name)}",
            "verified": False,
            "verified_source": [],
        }

    def _tool_json(self, tool: FakeTool) -> dict[str, Any]:
        segments = id_segments(tool.id)
        return {
            "aliases": list(tool.aliases),
            "checker_url": tool.extra.get("checker_url", "") if tool.has_checker else "",
            "description": tool.description,
            "has_checker": tool.has_checker,
            "id": tool.id,
            "meta_version": tool.extra.get("meta_version", META_VERSION),
            "name": tool.name or "/".join(segments[2:]),
            "organization": tool.organization or (segments[1] if len(segments) > 1 else ""),
            "toolclass": self._toolclass(tool.toolclass),
            "url": self.tool_url(tool),
            "versions": [self._version_json(tool, v) for v in self.visible_versions(tool)],
        }

    def _wrapper(
        self, request: web.Request, tool: FakeTool, version: FakeVersion, f: FakeFile, kind: str
    ) -> dict[str, Any]:
        segments = id_segments(tool.id)
        repo = "/".join(segments[1:3])
        prefix = request.path.split("/tools/", 1)[0]
        absolute = "/" + f.path.lstrip("/")
        self_url = (
            f"{request.url.origin()}{prefix}/tools/{quote(tool.id, safe='')}/versions/"
            f"{quote(version.name, safe='')}/{kind}/descriptor/{quote(absolute, safe='')}"
        )
        return {
            "checksum": [{"checksum": sha256_hex(f.content), "type": "sha-256"}],
            "content": f.content,
            "dockstore_absolute_path": absolute,
            "dockstore_self_url": self_url,
            "image_type": {},
            "url": f"https://raw.githubusercontent.com/{repo}/{version.name}/{absolute}",
        }

    # ------------------------------------------------------------------ lookups

    def _tool(self, request: web.Request) -> FakeTool | web.Response:
        try:
            tool_id = java_url_decode(request.match_info["id"])
        except ValueError:
            return ds_error(400, "Could not decode registry id")
        if len(id_segments(tool_id)) < 3:
            return ds_error(400, "Tool ID should have at least 3 separate segments, separated by /")
        tool = self.find_tool(tool_id)
        return tool if tool is not None else empty_response(404, "Not Found : tool not found")

    def _version(
        self, request: web.Request, *, ignore_case: bool, missing_status: int = 404
    ) -> tuple[FakeTool, FakeVersion] | web.Response:
        tool = self._tool(request)
        if isinstance(tool, web.Response):
            return tool
        try:
            name = java_url_decode(request.match_info["version_id"])
        except ValueError:
            return ds_error(400, "Could not decode version id")
        for version in self.visible_versions(tool):
            if version.name == name or (ignore_case and version.name.lower() == name.lower()):
                return tool, version
        return empty_response(missing_status, "Not Found : version not found")

    # ------------------------------------------------------------------ filters

    @staticmethod
    def _matches(tool: FakeTool, query: dict[str, str]) -> bool:
        segments = id_segments(tool.id)
        versions = DockstoreRegistry.visible_versions(tool)
        name = tool.name or "/".join(segments[2:])
        organization = tool.organization or (segments[1] if len(segments) > 1 else "")
        checks: dict[str, Callable[[str], bool]] = {
            "id": lambda v: tool.id == v,
            "alias": lambda v: v in tool.aliases,
            "toolClass": lambda v: tool.toolclass.lower() == v.lower(),
            "descriptorType": lambda v: any(
                (parse_type(v) or ("", False))[0] in ver.descriptor_types for ver in versions
            ),
            "registry": lambda v: bool(segments) and segments[0] == v,
            "organization": lambda v: organization == v,
            "name": lambda v: name == v,
            "toolname": lambda v: len(segments) > 3 and "/".join(segments[3:]) == v,
            "description": lambda v: tool.description == v,
            "author": lambda v: any(v in ver.author for ver in versions),
            "checker": lambda v: tool.has_checker == (v.lower() == "true"),
        }
        return all(check(query[key]) for key, check in checks.items() if key in query)

    # ------------------------------------------------------------------ handlers

    async def service_info(self, request: web.Request) -> web.StreamResponse:
        return ds_json(
            {
                "contactUrl": "https://discuss.dockstore.org/t/opening-helpdesk-tickets/1506",
                "createdAt": "2020-07-02T00:00:00.000+00:00",
                "description": (
                    "Dockstore is an implementation of the GA4GH Tool Registry API which is a "
                    "standard for listing and describing available tools (both stand-alone, "
                    "Docker-based tools as well as workflows in CWL, WDL, Nextflow, or Galaxy)"
                ),
                "documentationUrl": "https://docs.dockstore.org",
                "environment": "prod",
                "id": "1",
                "name": "Dockstore",
                "organization": {"name": "Dockstore", "url": "https://dockstore.org"},
                "type": {"artifact": "TRS", "group": "org.ga4gh", "version": "2.0.1"},
                "updatedAt": self.started_at.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
                "version": "1.17.0",
            }
        )

    async def tool_classes(self, request: web.Request) -> web.StreamResponse:
        return ds_json([self._toolclass(name) for name in TOOL_CLASSES])

    async def list_tools(self, request: web.Request) -> web.StreamResponse:
        raw_offset = request.query.get("offset")
        offset = 0
        if raw_offset is not None:
            parsed = parse_int(raw_offset)
            if parsed is None:
                return empty_response(400, "Bad offset")
            offset = max(parsed, 0)
        raw_limit = request.query.get("limit")
        limit = DEFAULT_LIMIT
        if raw_limit is not None:
            parsed_limit = parse_int(raw_limit)
            if parsed_limit is None:
                return ds_error(400, "query param limit must be an integer")
            if parsed_limit < 1:
                return ds_error(400, "query param limit must be greater than or equal to 1")
            limit = min(parsed_limit, MAX_LIMIT)
        matching = sorted(
            (t for t in self.tools if self._matches(t, dict(request.query))), key=listing_order
        )
        start = offset * limit
        page = matching[start : start + limit]
        headers = {"current_limit": str(limit), "self_link": str(request.url)}
        if raw_offset is not None:
            headers["current_offset"] = str(offset)
        if start + limit < len(matching):
            headers["next_page"] = page_link(request, limit=limit, offset=offset + 1)
        headers["last_page"] = page_link(request, limit=limit, offset=len(matching) // limit)
        return ds_json([self._tool_json(t) for t in page], headers=headers)

    async def get_tool(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if accept.strip() == "text/plain":
            return empty_response(400, "Bad Request : plain text is not supported")
        tool = self._tool(request)
        if isinstance(tool, web.Response):
            return tool
        return ds_json(self._tool_json(tool))

    async def list_versions(self, request: web.Request) -> web.StreamResponse:
        tool = self._tool(request)
        if isinstance(tool, web.Response):
            return tool
        return ds_json([self._version_json(tool, v) for v in self.visible_versions(tool)])

    async def get_version(self, request: web.Request) -> web.StreamResponse:
        found = self._version(request, ignore_case=False)
        if isinstance(found, web.Response):
            return found
        return ds_json(self._version_json(*found))

    async def containerfile(self, request: web.Request) -> web.StreamResponse:
        found = self._version(request, ignore_case=True)
        if isinstance(found, web.Response):
            return found
        tool, version = found
        containerfiles = version.files_of_type("CONTAINERFILE")
        if not containerfiles:
            return empty_response(404, "Not Found : no containerfile")
        kind = version.descriptor_types[0]
        return ds_json([self._wrapper(request, tool, version, f, kind) for f in containerfiles])

    async def descriptor(self, request: web.Request) -> web.StreamResponse:
        parsed = parse_type(request.match_info["type"])
        if parsed is None:
            return ds_error(400, TYPE_ERROR)
        kind, plain = parsed
        plain = plain or request.headers.get("Accept", "").strip() == "text/plain"
        found = self._version(request, ignore_case=True)
        if isinstance(found, web.Response):
            return found
        tool, version = found
        if kind not in version.descriptor_types:
            return empty_response(404, "Not Found : descriptor type not found")
        relative = request.match_info.get("relative_path")
        if relative is None:
            f = version.primary
        else:
            f = resolve_relative_path(version, relative, fold_case=True)
        if f is None:
            return empty_response(404, "Not Found : file not found")
        if plain:
            return text_response(f.content)
        return ds_json(self._wrapper(request, tool, version, f, kind))

    async def files(self, request: web.Request) -> web.StreamResponse:
        parsed = parse_type(request.match_info["type"])
        if parsed is None:
            return ds_error(400, TYPE_ERROR)
        kind, _ = parsed
        found = self._version(
            request, ignore_case=False, missing_status=204 if self.files_204 else 404
        )
        if isinstance(found, web.Response):
            return found
        tool, version = found
        if kind not in version.descriptor_types:
            return empty_response(404, "Not Found : descriptor type not found")
        accept = request.headers.get("Accept", "")
        wants_zip = request.query.get("format") == "zip" or "application/zip" in accept
        if wants_zip:
            if "application/json" in accept and "application/zip" not in accept:
                return empty_response(400, "Bad Request : format=zip conflicts with Accept")
            stem = "-".join([*id_segments(tool.id), version.name.replace("/", "-")])
            content_type = JSON_TYPE if self.zip_as_json else "application/zip"
            return zip_response(version.files, f"{stem}.zip", content_type)
        entries = sorted(
            ((relative_to_primary(version, f), f) for f in version.files), key=lambda e: e[0]
        )
        return ds_json(
            [
                {
                    "checksum": {"checksum": sha256_hex(f.content), "type": "sha-256"},
                    "dockstore_absolute_path": "/" + f.path.lstrip("/"),
                    "file_type": f.file_type,
                    "path": path,
                }
                for path, f in entries
            ]
        )

    async def tests(self, request: web.Request) -> web.StreamResponse:
        parsed = parse_type(request.match_info["type"])
        if parsed is None:
            return ds_error(400, TYPE_ERROR)
        kind, plain = parsed
        found = self._version(request, ignore_case=True)
        if isinstance(found, web.Response):
            return found
        tool, version = found
        if kind not in version.descriptor_types:
            return empty_response(404, "Not Found : descriptor type not found")
        test_files = version.files_of_type("TEST_FILE")
        if plain:
            return text_response(dump_json([f.content for f in test_files]))
        return ds_json([self._wrapper(request, tool, version, f, kind) for f in test_files])
