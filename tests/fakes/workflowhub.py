"""Fake WorkflowHub (SEEK ``app/controllers/ga4gh/trs/v2``, upstreams.md section 3).

Quirks reproduced:

* base ``/ga4gh/trs/v2``; tool ids are integer strings ("599"), version ids "1", "2", ...
  (``FakeVersion.id`` or the 1-based index); the version ``name`` is a title;
* Tool JSON has EXACTLY ``id, url, name, description, organization, toolclass, versions`` with
  ``url`` the HTML page ``https://workflowhub.example/workflows/<id>``; ToolVersion has EXACTLY
  ``id, url, name, author, descriptor_type`` and types other than CWL/NFL/GALAXY/SMK vanish;
* ``/tools``: ``offset`` item index (Ruby ``to_i``), ``limit`` default 1000; headers
  ``next_page`` (if more), ``last_page`` ALWAYS and wrong (count taken after the offset:
  last offset = remaining - limit, dropped when <= 0), ``current_offset`` (only if sent),
  ``current_limit``, ``self_link``;
* filters: ``id`` exact, ``name``/``description`` case-insensitive substring, ``toolClass`` other
  than "Workflow" -> [], ``descriptorType`` (unknown types ignored), ``organization`` exact
  project title, ``author`` exact, ``checker`` anything but "false" -> []; ``alias``,
  ``registry`` and ``toolname`` are SILENTLY IGNORED;
* errors are JSON ``{"code": 404, "message": "Couldn't find tool with 'id'=..."}``
  (``Accept: text/plain`` gives ``Error 404 - ...``);
* descriptor wrapper ``{content, checksum: [], url: null}``; ``PLAIN_`` prefix (any case,
  underscore only) -> raw ``text/plain``; ``plain-CWL`` -> 404 "Type: PLAIN-CWL not available";
  ``relative_path`` is the RO-Crate entry path (from the repository root, exact);
* ``/files`` lists ``{path, file_type}`` with only PRIMARY_DESCRIPTOR / CONTAINERFILE (a
  ``Dockerfile``) / OTHER and no checksum; ``?format=zip`` -> ``application/zip`` RO-Crate;
* ``/tests`` = files whose path matches ``tests?/.*\\.json``; ``/containerfile`` = the
  ``Dockerfile`` or 404 with body ``{}``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from aiohttp import web

from .catalog import FakeFile, FakeTool, FakeVersion
from .common import (
    FakeRegistry,
    find_version,
    json_response,
    zip_response,
)

PUBLIC_HOST = "https://workflowhub.example"
JSON_TYPE = "application/json; charset=utf-8"
WORKFLOW_CLASS = {"id": "1", "name": "Workflow", "description": "A computational workflow"}
DESCRIPTOR_TYPES = ("CWL", "NFL", "GALAXY", "SMK")
PERMITTED_PARAMS = (
    "id", "alias", "toolClass", "descriptorType", "registry", "organization",
    "name", "toolname", "description", "author", "checker", "offset", "limit",
)  # fmt: skip
TESTS_PATTERN = re.compile(r"tests?/.*\.json")


def ruby_to_i(value: str) -> int:
    """Ruby ``String#to_i``: leading integer, 0 when there is none."""
    match = re.match(r"\s*([-+]?\d+)", value)
    return int(match.group(1)) if match else 0


def version_key(index: int, version: FakeVersion) -> str:
    return version.id or str(index + 1)


def wh_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(data, status=status, content_type=JSON_TYPE, headers=headers)


def wh_error(request: web.Request, status: int, message: str) -> web.Response:
    """SEEK's ``trs_error``: JSON, or ``Error <code> - <message>`` for ``Accept: text/plain``."""
    if request.headers.get("Accept", "").strip() == "text/plain":
        return web.Response(text=f"Error {status} - {message}", status=status)
    return wh_json({"code": status, "message": message}, status=status)


class WorkflowHubRegistry(FakeRegistry):
    flavor: ClassVar[str] = "workflowhub"
    BASE_PATH: ClassVar[str] = "/ga4gh/trs/v2"

    def _setup_routes(self) -> None:
        self.add_trs_routes(self.BASE_PATH, self)

    def route_not_found(self, request: web.Request) -> web.StreamResponse:
        return wh_error(request, 404, "Not found.")

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def _version_json(tool: FakeTool, index: int) -> dict[str, Any]:
        version = tool.versions[index]
        vid = version_key(index, version)
        return {
            "id": vid,
            "url": f"{PUBLIC_HOST}/workflows/{tool.id}?version={vid}",
            "name": version.name,
            "author": list(version.author),
            "descriptor_type": [t for t in version.descriptor_types if t in DESCRIPTOR_TYPES],
        }

    def _tool_json(self, tool: FakeTool) -> dict[str, Any]:
        return {
            "id": tool.id,
            "url": f"{PUBLIC_HOST}/workflows/{tool.id}",
            "name": tool.name,
            "description": tool.description,
            "organization": tool.organization,
            "toolclass": dict(WORKFLOW_CLASS),
            "versions": [self._version_json(tool, i) for i in range(len(tool.versions))],
        }

    @staticmethod
    def _wrapper(f: FakeFile) -> dict[str, Any]:
        return {"content": f.content, "checksum": [], "url": None}

    # ------------------------------------------------------------------ lookups

    def _tool(self, request: web.Request) -> FakeTool | web.Response:
        tool_id = request.match_info["id"]
        tool = self.find_tool(tool_id)
        if tool is None:
            return wh_error(request, 404, f"Couldn't find tool with 'id'={tool_id}")
        return tool

    def _version(self, request: web.Request) -> tuple[FakeTool, FakeVersion] | web.Response:
        tool = self._tool(request)
        if isinstance(tool, web.Response):
            return tool
        vid = request.match_info["version_id"]
        version = find_version(tool, vid, version_key)
        if version is None:
            return wh_error(request, 404, f"Couldn't find version with 'id'={vid} for this tool")
        return tool, version

    def _typed_version(
        self, request: web.Request
    ) -> tuple[FakeTool, FakeVersion, bool] | web.Response:
        """Version lookup plus SEEK's ``check_type`` (strip ``plain_`` any case, upcase)."""
        found = self._version(request)
        if isinstance(found, web.Response):
            return found
        tool, version = found
        raw = request.match_info["type"]
        kind = re.sub("plain_", "", raw, count=1, flags=re.IGNORECASE).upper()
        available = [t for t in version.descriptor_types if t in DESCRIPTOR_TYPES]
        if kind not in available:
            return wh_error(request, 404, f"Type: {kind} not available")
        return tool, version, raw.lower().startswith("plain_")

    # ------------------------------------------------------------------ filters

    @staticmethod
    def _matches(tool: FakeTool, params: dict[str, str]) -> bool:
        def present(key: str) -> bool:
            return bool(params.get(key, "").strip())

        if present("id") and tool.id != params["id"]:
            return False
        if present("name") and params["name"].lower() not in tool.name.lower():
            return False
        if present("description") and params["description"].lower() not in (
            tool.description.lower()
        ):
            return False
        if present("toolClass") and params["toolClass"] != "Workflow":
            return False
        if present("descriptorType"):
            wanted = params["descriptorType"].upper()
            if wanted in DESCRIPTOR_TYPES and not any(
                wanted in v.descriptor_types for v in tool.versions
            ):
                return False
        if present("organization"):
            projects = [p.strip() for p in tool.organization.split(",")]
            if params["organization"] not in projects:
                return False
        if present("checker") and params["checker"].lower() != "false":
            return False
        return not (
            present("author") and not any(params["author"] in v.author for v in tool.versions)
        )

    # ------------------------------------------------------------------ handlers

    async def service_info(self, request: web.Request) -> web.StreamResponse:
        return wh_json(
            {
                "id": "example.workflowhub",
                "name": "WorkflowHub",
                "type": {"group": "org.ga4gh", "artifact": "trs", "version": "2.0.1"},
                "description": "WorkflowHub is a registry of scientific workflows.",
                "organization": {"name": "WorkflowHub", "url": PUBLIC_HOST},
                "contactUrl": "mailto:support@workflowhub.example",
                "documentationUrl": (
                    "https://editor.swagger.io/?url=https://raw.githubusercontent.com/ga4gh/"
                    "tool-registry-schemas/develop/openapi/openapi.yaml"
                ),
                "environment": "production",
                "version": "1.16.0",
            }
        )

    async def tool_classes(self, request: web.Request) -> web.StreamResponse:
        return wh_json([dict(WORKFLOW_CLASS)])

    async def list_tools(self, request: web.Request) -> web.StreamResponse:
        params = {k: v for k, v in request.query.items() if k in PERMITTED_PARAMS}
        offset = ruby_to_i(params["offset"]) if "offset" in params else None
        limit = ruby_to_i(params["limit"]) if "limit" in params else 1000
        if limit < 0 or (offset is not None and offset < 0):
            return wh_error(request, 500, "An unexpected error occurred.")
        matching = [t for t in self.tools if self._matches(t, params)]
        remaining = matching[offset:] if offset is not None else matching
        count = len(remaining)  # the bug: counted after the offset was applied
        page = remaining[:limit]
        last_page_offset: int | None = count - limit
        if last_page_offset is not None and last_page_offset <= 0:
            last_page_offset = None

        def link(new_offset: int | None) -> str:
            query = {k: v for k, v in params.items() if k != "offset"}
            if new_offset is not None:
                query["offset"] = str(new_offset)
            return str(request.url.with_query(query))

        headers: dict[str, str] = {}
        if count > limit:
            headers["next_page"] = link((offset or 0) + limit)
        headers["last_page"] = link(last_page_offset)
        if offset is not None:
            headers["current_offset"] = str(offset)
        headers["current_limit"] = str(limit)
        headers["self_link"] = str(request.url)
        return wh_json([self._tool_json(t) for t in page], headers=headers)

    async def get_tool(self, request: web.Request) -> web.StreamResponse:
        tool = self._tool(request)
        if isinstance(tool, web.Response):
            return tool
        return wh_json(self._tool_json(tool))

    async def list_versions(self, request: web.Request) -> web.StreamResponse:
        tool = self._tool(request)
        if isinstance(tool, web.Response):
            return tool
        return wh_json([self._version_json(tool, i) for i in range(len(tool.versions))])

    async def get_version(self, request: web.Request) -> web.StreamResponse:
        found = self._version(request)
        if isinstance(found, web.Response):
            return found
        tool, version = found
        return wh_json(self._version_json(tool, tool.versions.index(version)))

    async def containerfile(self, request: web.Request) -> web.StreamResponse:
        found = self._version(request)
        if isinstance(found, web.Response):
            return found
        _, version = found
        dockerfile = next((f for f in version.files if f.path == "Dockerfile"), None)
        if dockerfile is None:
            return wh_json({}, status=404)
        return wh_json([self._wrapper(dockerfile)])

    async def descriptor(self, request: web.Request) -> web.StreamResponse:
        found = self._typed_version(request)
        if isinstance(found, web.Response):
            return found
        _, version, plain = found
        relative = request.match_info.get("relative_path")
        if relative:
            f = next((f for f in version.files if f.path == relative), None)
        else:
            f = version.primary
        if f is None:
            return wh_json({"code": 404, "message": "Not found"}, status=404)
        if plain:
            return web.Response(text=f.content, content_type="text/plain", charset="utf-8")
        return wh_json(self._wrapper(f))

    async def files(self, request: web.Request) -> web.StreamResponse:
        found = self._typed_version(request)
        if isinstance(found, web.Response):
            return found
        tool, version, _ = found
        vid = request.match_info["version_id"]
        if request.query.get("format") == "zip":
            return zip_response(version.files, f"workflow-{tool.id}-{vid}.crate.zip")
        entries = []
        for f in version.files:
            if f.file_type == "PRIMARY_DESCRIPTOR":
                file_type = "PRIMARY_DESCRIPTOR"
            elif f.path == "Dockerfile":
                file_type = "CONTAINERFILE"
            else:
                file_type = "OTHER"
            entries.append({"path": f.path, "file_type": file_type})
        return wh_json(entries)

    async def tests(self, request: web.Request) -> web.StreamResponse:
        found = self._typed_version(request)
        if isinstance(found, web.Response):
            return found
        _, version, _ = found
        return wh_json([self._wrapper(f) for f in version.files if TESTS_PATTERN.search(f.path)])
