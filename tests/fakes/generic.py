"""A registry that follows TRS 2.0.1 to the letter (the baseline the others deviate from).

* base ``/ga4gh/trs/v2``; ids and version ids are used as given (clients percent-encode them);
* ``offset`` is an item index (opaque string holding an int), ``limit`` defaults to 1000;
* ``next_page`` (only if more), ``last_page``, ``self_link``, ``current_offset``,
  ``current_limit`` headers; links keep the filters;
* filters: ``id``, ``alias``, ``toolClass``, ``descriptorType``, ``registry``, ``organization``
  and ``checker`` match exactly; ``name``, ``toolname``, ``description`` and ``author`` are
  case-insensitive substring matches;
* errors are JSON ``{"code": ..., "message": ...}``;
* ``PLAIN_<TYPE>`` returns the raw text as ``text/plain``; ``/files?format=zip`` is a zip;
* ``ToolVersion.id`` is the version's path id (``FakeVersion.id`` or else its name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import quote

from aiohttp import web

from .catalog import FakeFile, FakeTool, FakeVersion
from .common import (
    FakeRegistry,
    descriptor_type_version,
    dump_json,
    find_version,
    json_response,
    page_link,
    parse_int,
    relative_to_primary,
    resolve_relative_path,
    sha256_hex,
    text_response,
    zip_response,
)

DESCRIPTOR_TYPES = ("CWL", "WDL", "NFL", "GALAXY", "SMK")
TOOL_CLASS_IDS = {"CommandLineTool": "0", "Workflow": "1", "Service": "2"}
DEFAULT_LIMIT = 1000


def error(status: int, message: str) -> web.Response:
    return json_response({"code": status, "message": message}, status=status)


def version_key(index: int, version: FakeVersion) -> str:
    return version.id or version.name


class GenericRegistry(FakeRegistry):
    flavor: ClassVar[str] = "generic"
    BASE_PATH: ClassVar[str] = "/ga4gh/trs/v2"

    def _setup_routes(self) -> None:
        self.add_trs_routes(self.BASE_PATH, self)

    # ------------------------------------------------------------------ rendering

    def _tool_url(self, request: web.Request, tool: FakeTool) -> str:
        return f"{request.url.origin()}{self.BASE_PATH}/tools/{quote(tool.id, safe='')}"

    def _toolclass(self, name: str) -> dict[str, str]:
        return {"id": TOOL_CLASS_IDS.get(name, name), "name": name, "description": name}

    def _version_json(self, request: web.Request, tool: FakeTool, index: int) -> dict[str, Any]:
        version = tool.versions[index]
        vid = version_key(index, version)
        return {
            "author": list(version.author),
            "containerfile": bool(version.files_of_type("CONTAINERFILE")),
            "descriptor_type": list(version.descriptor_types),
            "descriptor_type_version": descriptor_type_version(version),
            "id": vid,
            "images": list(version.images),
            "included_apps": [],
            "is_production": version.is_production,
            "meta_version": "1",
            "name": version.name,
            "signed": False,
            "url": f"{self._tool_url(request, tool)}/versions/{quote(vid, safe='')}",
            "verified": False,
            "verified_source": [],
        }

    def _tool_json(self, request: web.Request, tool: FakeTool) -> dict[str, Any]:
        return {
            "aliases": list(tool.aliases),
            "checker_url": tool.extra.get("checker_url", ""),
            "description": tool.description,
            "has_checker": tool.has_checker,
            "id": tool.id,
            "meta_version": "1",
            "name": tool.name,
            "organization": tool.organization,
            "toolclass": self._toolclass(tool.toolclass),
            "url": self._tool_url(request, tool),
            "versions": [self._version_json(request, tool, i) for i in range(len(tool.versions))],
        }

    def _wrapper(self, request: web.Request, f: FakeFile, kind: str) -> dict[str, Any]:
        return {
            "checksum": [{"checksum": sha256_hex(f.content), "type": "sha-256"}],
            "content": f.content,
            "image_type": kind,
            "url": str(request.url.with_query(None)),
        }

    # ------------------------------------------------------------------ filters

    @staticmethod
    def _matches(tool: FakeTool, query: dict[str, str]) -> bool:
        def contains(haystack: str, needle: str) -> bool:
            return needle.lower() in haystack.lower()

        versions = tool.versions
        registries = {str(img.get("registry_host", "")) for v in versions for img in v.images}
        if "registry" in tool.extra:
            registries.add(str(tool.extra["registry"]))
        checks: dict[str, Callable[[str], bool]] = {
            "id": lambda v: tool.id == v,
            "alias": lambda v: v in tool.aliases,
            "toolClass": lambda v: tool.toolclass == v,
            "descriptorType": lambda v: any(v in ver.descriptor_types for ver in versions),
            "registry": lambda v: v in registries,
            "organization": lambda v: tool.organization == v,
            "name": lambda v: contains(tool.name, v),
            "toolname": lambda v: contains(tool.name, v),
            "description": lambda v: contains(tool.description, v),
            "author": lambda v: any(contains(a, v) for ver in versions for a in ver.author),
            "checker": lambda v: tool.has_checker == (v.lower() == "true"),
        }
        return all(check(query[key]) for key, check in checks.items() if key in query)

    # ------------------------------------------------------------------ lookups

    def _lookup(self, request: web.Request) -> tuple[FakeTool, FakeVersion, str] | web.Response:
        tool = self.find_tool(request.match_info["id"])
        if tool is None:
            return error(404, f"Tool not found: {request.match_info['id']}")
        vid = request.match_info["version_id"]
        version = find_version(tool, vid, version_key)
        if version is None:
            return error(404, f"Version not found: {vid}")
        return tool, version, vid

    # ------------------------------------------------------------------ handlers

    async def service_info(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "id": "org.example.trs.generic",
                "name": "Generic TRS fake",
                "type": {"group": "org.ga4gh", "artifact": "trs", "version": "2.0.1"},
                "description": "A spec-following GA4GH TRS 2.0.1 registry (test fake)",
                "organization": {"name": "Example", "url": "https://example.org"},
                "version": "1.0.0",
            }
        )

    async def tool_classes(self, request: web.Request) -> web.StreamResponse:
        names = list(TOOL_CLASS_IDS)
        names += sorted({t.toolclass for t in self.tools} - set(names))
        return json_response([self._toolclass(n) for n in names])

    async def list_tools(self, request: web.Request) -> web.StreamResponse:
        raw_offset = request.query.get("offset")
        offset = parse_int(raw_offset) if raw_offset is not None else 0
        if offset is None or offset < 0:
            return error(400, f"Invalid offset: {raw_offset}")
        raw_limit = request.query.get("limit")
        limit = parse_int(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
        if limit is None or limit < 1:
            return error(400, f"Invalid limit: {raw_limit}")
        matching = [t for t in self.tools if self._matches(t, dict(request.query))]
        page = matching[offset : offset + limit]
        total = len(matching)
        headers = {
            "self_link": str(request.url),
            "current_offset": str(offset),
            "current_limit": str(limit),
            "last_page": page_link(
                request, offset=((total - 1) // limit) * limit if total else 0, limit=limit
            ),
        }
        if offset + limit < total:
            headers["next_page"] = page_link(request, offset=offset + limit, limit=limit)
        return json_response([self._tool_json(request, t) for t in page], headers=headers)

    async def get_tool(self, request: web.Request) -> web.StreamResponse:
        tool = self.find_tool(request.match_info["id"])
        if tool is None:
            return error(404, f"Tool not found: {request.match_info['id']}")
        return json_response(self._tool_json(request, tool))

    async def list_versions(self, request: web.Request) -> web.StreamResponse:
        tool = self.find_tool(request.match_info["id"])
        if tool is None:
            return error(404, f"Tool not found: {request.match_info['id']}")
        return json_response(
            [self._version_json(request, tool, i) for i in range(len(tool.versions))]
        )

    async def get_version(self, request: web.Request) -> web.StreamResponse:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        tool, version, _ = found
        return json_response(self._version_json(request, tool, tool.versions.index(version)))

    async def containerfile(self, request: web.Request) -> web.StreamResponse:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        _, version, _ = found
        containerfiles = version.files_of_type("CONTAINERFILE")
        if not containerfiles:
            return error(404, "No containerfile for this version")
        return json_response([self._wrapper(request, f, "Docker") for f in containerfiles])

    def _parse_type(self, raw: str, *, allow_plain: bool) -> tuple[str, bool] | None:
        if raw in DESCRIPTOR_TYPES:
            return raw, False
        if allow_plain and raw.startswith("PLAIN_") and raw[6:] in DESCRIPTOR_TYPES:
            return raw[6:], True
        return None

    async def descriptor(self, request: web.Request) -> web.StreamResponse:
        parsed = self._parse_type(request.match_info["type"], allow_plain=True)
        if parsed is None:
            return error(400, f"Invalid type: {request.match_info['type']}")
        kind, plain = parsed
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        _, version, _ = found
        if kind not in version.descriptor_types:
            return error(404, f"No {kind} descriptor for this version")
        relative = request.match_info.get("relative_path")
        f = version.primary if relative is None else resolve_relative_path(version, relative)
        if f is None:
            return error(404, f"File not found: {relative}")
        if plain:
            return text_response(f.content)
        return json_response(self._wrapper(request, f, kind))

    async def files(self, request: web.Request) -> web.StreamResponse:
        parsed = self._parse_type(request.match_info["type"], allow_plain=False)
        if parsed is None:
            return error(400, f"Invalid type: {request.match_info['type']}")
        kind, _ = parsed
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        tool, version, vid = found
        if kind not in version.descriptor_types:
            return error(404, f"No {kind} descriptor for this version")
        if request.query.get("format") == "zip":
            return zip_response(version.files, f"{quote(tool.id, safe='')}-{vid}.zip")
        return json_response(
            [
                {
                    "checksum": {"checksum": sha256_hex(f.content), "type": "sha-256"},
                    "file_type": f.file_type,
                    "path": relative_to_primary(version, f),
                }
                for f in version.files
            ]
        )

    async def tests(self, request: web.Request) -> web.StreamResponse:
        parsed = self._parse_type(request.match_info["type"], allow_plain=True)
        if parsed is None:
            return error(400, f"Invalid type: {request.match_info['type']}")
        kind, plain = parsed
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        _, version, _ = found
        if kind not in version.descriptor_types:
            return error(404, f"No {kind} descriptor for this version")
        test_files = version.files_of_type("TEST_FILE")
        if plain:
            return text_response(dump_json([f.content for f in test_files]))
        return json_response([self._wrapper(request, f, kind) for f in test_files])
