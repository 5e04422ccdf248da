"""Fake BioContainers (biocontainers-backend Flask/Connexion app, upstreams.md section 4).

Quirks reproduced:

* base ``/ga4gh/trs/v2``; tool ids are package names, version ids ``{tool}-{version}``
  (``FakeVersion.id`` or derived from the name);
* Tool JSON keys alphabetical with non-standard ``contains, identifiers, license, pulls,
  tool_tags, tool_url`` (from ``FakeTool.extra``), ``organization`` "biocontainers", ``url`` with
  an ``http://`` scheme, no ``aliases``; versions inside ``/tools`` and ``/tools/{id}`` carry ONLY
  ``id, meta_version`` (the version string) ``, name`` (the TOOL name) ``, url``;
* ``/tools/{id}/versions`` and ``/versions/{vid}`` add ``images`` (Docker / Singularity / Conda,
  ``registry_host`` like ``quay.io/``); generated when ``FakeVersion.images`` is empty;
* not found (unknown tool, unknown version, ``offset`` past the end, a filter matching nothing)
  -> HTTP 204 with an empty body; ``/tools/{id}/versions`` of an unknown tool is ``[]`` (the
  real controller returns the empty list there);
* ``/tools``: item-index ``offset``, ``limit`` default 1000, sorted by id (``sort_field`` /
  ``sort_order`` extensions); ``next_page`` only if more, ``last_page`` =
  ``(ceil(total/limit)-1)*limit``, ``current_offset``, ``current_limit``, ``self_link`` always;
* filters are case-insensitive REGEX searches (``id``, ``alias``, ``registry``,
  ``organization``, ``toolname`` -> tool name, ``toolClass``, ``description``, ``author``,
  ``name`` -> the versions' name); ``/tools/{id}`` matches ``^id$`` case-insensitively;
* descriptor / files / tests / containerfile answer 200 with the JSON string
  "Not yet implemented!"; ``/service-info`` answers the JSON string "do some magic!";
* Connexion-style ``application/problem+json`` for validation errors and unknown routes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, ClassVar

from aiohttp import web

from .catalog import FakeTool, FakeVersion
from .common import FakeRegistry, empty_response, find_version, json_response, page_link

PUBLIC_BASE = "http://api.biocontainers.example/ga4gh/trs/v2"
TOOL_CLASSES = {
    "CommandLineTool": "0",
    "Workflow": "1",
    "CommandLineMultiTool": "3",
    "Service": "4",
}
NOT_IMPLEMENTED = "Not yet implemented!"
DEFAULT_LIMIT = 1000


def bc_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(data, status=status, sort_keys=True, headers=headers)


def problem(status: int, title: str, detail: str) -> web.Response:
    return json_response(
        {"detail": detail, "status": status, "title": title, "type": "about:blank"},
        status=status,
        content_type="application/problem+json",
    )


def version_key(tool: FakeTool) -> Callable[[int, FakeVersion], str]:
    def key(index: int, version: FakeVersion) -> str:
        return version.id or f"{tool.id}-{version.name}"

    return key


def default_images(tool: FakeTool, version: FakeVersion) -> list[dict[str, Any]]:
    tag = f"{version.name}--0"
    return [
        {
            "downloads": 0,
            "image_name": f"https://depot.galaxyproject.org/singularity/{tool.id}:{tag}",
            "image_type": "Singularity",
            "registry_host": "depot.galaxyproject.org/singularity/",
            "size": 17178624,
            "updated": "2019-10-27T05:29:00Z",
        },
        {
            "downloads": 0,
            "image_name": f"quay.io/biocontainers/{tool.id}:{tag}",
            "image_type": "Docker",
            "registry_host": "quay.io/",
            "size": 17332806,
            "updated": "2019-10-26T00:00:00Z",
        },
        {
            "downloads": 35562,
            "image_name": f"{tool.id}=={tag}",
            "image_type": "Conda",
            "registry_host": "http://anaconda.org/",
            "size": 1129407,
            "updated": "2018-06-24T00:00:00Z",
        },
    ]


class BioContainersRegistry(FakeRegistry):
    flavor: ClassVar[str] = "biocontainers"
    BASE_PATH: ClassVar[str] = "/ga4gh/trs/v2"

    def _setup_routes(self) -> None:
        self.add_trs_routes(self.BASE_PATH, self)

    def route_not_found(self, request: web.Request) -> web.StreamResponse:
        return problem(
            404,
            "Not Found",
            "The requested URL was not found on the server. If you entered the URL manually "
            "please check your spelling and try again.",
        )

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def _tool_name(tool: FakeTool) -> str:
        return tool.name or tool.id

    def _version_url(self, tool: FakeTool, vid: str) -> str:
        return f"{PUBLIC_BASE}/tools/{tool.id}/versions/{vid}"

    def _short_version(self, tool: FakeTool, index: int) -> dict[str, Any]:
        version = tool.versions[index]
        vid = version_key(tool)(index, version)
        return {
            "id": vid,
            "meta_version": version.name,
            "name": self._tool_name(tool),
            "url": self._version_url(tool, vid),
        }

    def _full_version(self, tool: FakeTool, index: int) -> dict[str, Any]:
        version = tool.versions[index]
        return {
            **self._short_version(tool, index),
            "images": list(version.images) or default_images(tool, version),
        }

    def _tool_json(self, tool: FakeTool) -> dict[str, Any]:
        extra = tool.extra
        data: dict[str, Any] = {
            "contains": list(extra.get("contains", [])),
            "description": tool.description,
            "id": tool.id,
            "identifiers": list(extra.get("identifiers", [])),
            "license": extra.get("license"),
            "name": self._tool_name(tool),
            "organization": tool.organization or "biocontainers",
            "pulls": extra.get("pulls", 0),
            "tool_tags": list(extra.get("tool_tags", [])),
            "tool_url": extra.get("tool_url"),
            "toolclass": {
                "description": tool.toolclass,
                "id": TOOL_CLASSES.get(tool.toolclass, "0"),
                "name": tool.toolclass,
            },
            "url": f"{PUBLIC_BASE}/tools/{tool.id}",
            "versions": [self._short_version(tool, i) for i in range(len(tool.versions))],
        }
        return {k: v for k, v in data.items() if v is not None}

    # ------------------------------------------------------------------ filters

    def _fields(self, tool: FakeTool, key: str) -> list[str]:
        """The database values a filter's regex is matched against."""
        versions = tool.versions
        if key == "id":
            return [tool.id]
        if key == "alias":
            return list(tool.aliases)
        if key == "registry":
            hosts = {
                str(img.get("registry_host", ""))
                for i, v in enumerate(versions)
                for img in self._full_version(tool, i)["images"]
            }
            return [*hosts, *tool.extra.get("registries", [])]
        if key == "organization":
            return [tool.organization or "biocontainers"]
        if key == "toolname":
            return [self._tool_name(tool)]
        if key == "toolClass":
            return [tool.toolclass]
        if key == "description":
            return [tool.description]
        if key == "author":
            return [a for v in versions for a in v.author]
        if key == "name":  # tool_versions.name, which BioContainers sets to the tool name
            return [self._tool_name(tool)] if versions else []
        return []

    FILTERS: ClassVar[tuple[str, ...]] = (
        "id", "alias", "registry", "organization", "toolname", "toolClass",
        "description", "author", "name",
    )  # fmt: skip

    # ------------------------------------------------------------------ handlers

    async def service_info(self, request: web.Request) -> web.StreamResponse:
        return bc_json("do some magic!")

    async def tool_classes(self, request: web.Request) -> web.StreamResponse:
        return bc_json([{"description": n, "id": i, "name": n} for n, i in TOOL_CLASSES.items()])

    async def list_tools(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        raw_limit = query.get("limit")
        try:
            limit = int(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
        except ValueError:
            return problem(400, "Bad Request", f"'{raw_limit}' is not of type 'integer'")
        try:
            offset = int(query.get("offset", "0"))
        except ValueError:
            return problem(500, "Internal Server Error", "The server encountered an internal error")
        if limit <= 0:  # math.ceil(total / 0) blows up in the real server
            return problem(500, "Internal Server Error", "The server encountered an internal error")
        try:
            patterns = {
                key: re.compile(query[key], re.IGNORECASE) for key in self.FILTERS if key in query
            }
        except re.error:
            return problem(500, "Internal Server Error", "The server encountered an internal error")
        matching = [
            t
            for t in self.tools
            if all(any(p.search(v) for v in self._fields(t, k)) for k, p in patterns.items())
        ]
        sort_field = query.get("sort_field", "id")
        sort_keys = {
            "toolname": lambda t: self._tool_name(t),
            "description": lambda t: t.description,
            "pulls": lambda t: t.extra.get("pulls", 0),
        }
        descending = query.get("sort_order", "").lower().startswith("desc")
        matching.sort(key=sort_keys.get(sort_field, lambda t: t.id), reverse=descending)
        total = len(matching)
        if offset >= total:
            return empty_response(204)
        page = matching[offset : offset + limit]
        headers = {
            "last_page": page_link(
                request, offset=(math.ceil(total / limit) - 1) * limit, limit=limit
            ),
            "self_link": str(request.url),
            "current_offset": str(offset),
            "current_limit": str(limit),
        }
        if offset + limit < total:
            headers["next_page"] = page_link(request, offset=offset + limit, limit=limit)
        return bc_json([self._tool_json(t) for t in page], headers=headers)

    async def get_tool(self, request: web.Request) -> web.StreamResponse:
        try:
            pattern = re.compile("^" + request.match_info["id"] + "$", re.IGNORECASE)
        except re.error:
            return problem(500, "Internal Server Error", "The server encountered an internal error")
        for tool in sorted(self.tools, key=lambda t: t.id):
            if pattern.search(tool.id):
                return bc_json(self._tool_json(tool))
        return empty_response(204)

    async def list_versions(self, request: web.Request) -> web.StreamResponse:
        tool = self.find_tool(request.match_info["id"])
        if tool is None:
            return bc_json([])
        return bc_json([self._full_version(tool, i) for i in range(len(tool.versions))])

    async def get_version(self, request: web.Request) -> web.StreamResponse:
        tool = self.find_tool(request.match_info["id"])
        if tool is None:
            return empty_response(204)
        version = find_version(tool, request.match_info["version_id"], version_key(tool))
        if version is None:
            return empty_response(204)
        return bc_json(self._full_version(tool, tool.versions.index(version)))

    async def _not_implemented(self, request: web.Request) -> web.StreamResponse:
        return bc_json(NOT_IMPLEMENTED)

    containerfile = _not_implemented
    descriptor = _not_implemented
    files = _not_implemented
    tests = _not_implemented
