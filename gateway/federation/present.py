"""Turning an upstream's JSON into what the gateway answers.

Ids become namespaced, and every self URL is rewritten so that following it
goes through the gateway:

* ``Tool.id`` is ``{upstream}:{id}``; ``Tool.url`` the gateway's ``/tools/{id}``;
  ``Tool.aliases`` gains the other spellings clients can send (see :mod:`gateway.ids`).
* ``ToolVersion.url`` is the gateway URL of the version, addressed by the
  segment the upstream understands (its ``name`` on Dockstore, its ``id``
  elsewhere). A ``ToolVersion.id`` of Dockstore's ``{tool}:{version}`` form
  gets the tool's namespace too; other version ids are kept.
* A descriptor ``FileWrapper.url`` becomes the gateway's ``PLAIN_`` URL of
  that file, so it is fetchable by anyone who can reach the gateway. Other
  wrappers (tests, containerfiles) keep an upstream ``url`` only if it is an
  absolute http(s) URL.
* Tool classes are merged by name across upstreams, so a class is named by
  its name: ``{"id": "Workflow", "name": "Workflow", ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ids import client_spellings, gateway_id, quote_segment
from ..trs.models import FileWrapper, Tool, ToolClass, ToolVersion
from ..trs.types import Language
from ..upstream import Upstream

__all__ = [
    "Links",
    "present_tool",
    "present_tool_class",
    "present_tool_json",
    "present_version",
    "present_wrapper",
]


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute gateway URLs below one TRS base path (``https://host/ga4gh/trs/v2``)."""

    base: str

    def tools(self) -> str:
        return f"{self.base}/tools"

    def tool(self, gid: str) -> str:
        return f"{self.base}/tools/{quote_segment(gid)}"

    def version(self, gid: str, segment: str) -> str:
        return _version_url(self.tool(gid), segment)

    def plain_descriptor(
        self, gid: str, segment: str, language: Language, relative: str | None
    ) -> str:
        url = f"{self.version(gid, segment)}/PLAIN_{language}/descriptor"
        if relative:
            url += "/" + "/".join(quote_segment(p) for p in relative.split("/") if p)
        return url


def _version_url(tool_url: str, segment: str) -> str:
    return f"{tool_url}/versions/{quote_segment(segment)}"


# The rules, once: each gives the fields presenting changes, for a model copy
# (present_tool) and for a tool's JSON (present_tool_json) alike.


def _class_fields(toolclass: ToolClass) -> dict[str, str]:
    name = toolclass.name or toolclass.id or "Unknown"
    return {"id": name, "name": name, "description": toolclass.description or name}


def _tool_fields(upstream: Upstream, raw: Tool, links: Links) -> dict[str, Any]:
    gid = gateway_id(upstream.name, raw.id)
    aliases = list(dict.fromkeys([*raw.aliases, *client_spellings(upstream.name, raw.id)]))
    return {"id": gid, "aliases": aliases, "url": links.tool(gid)}


def _version_fields(
    upstream: Upstream, tool_id: str, tool_url: str, raw: ToolVersion
) -> dict[str, str]:
    segment = upstream.version_segment({"id": raw.id, "name": raw.name})
    version_id = raw.id
    if version_id.startswith(f"{tool_id}:"):
        version_id = gateway_id(upstream.name, version_id)
    return {"url": _version_url(tool_url, segment), "id": version_id}


def canonical_class(toolclass: ToolClass) -> ToolClass:
    return ToolClass(**_class_fields(toolclass))


def present_version(
    upstream: Upstream, tool_id: str, raw: ToolVersion, links: Links
) -> ToolVersion:
    tool_url = links.tool(gateway_id(upstream.name, tool_id))
    return raw.model_copy(update=_version_fields(upstream, tool_id, tool_url, raw))


def present_tool(upstream: Upstream, raw: Tool, links: Links) -> Tool:
    fields = _tool_fields(upstream, raw, links)
    versions = [
        v.model_copy(update=_version_fields(upstream, raw.id, fields["url"], v))
        for v in raw.versions
    ]
    return raw.model_copy(
        update={**fields, "toolclass": canonical_class(raw.toolclass), "versions": versions}
    )


def present_tool_json(upstream: Upstream, raw: Tool, links: Links) -> dict[str, Any]:
    """``present_tool(upstream, raw, links).dump()``, made from one dump of ``raw``
    rather than from copies of its models: a listing page presents thousands."""
    out = raw.dump()
    fields = _tool_fields(upstream, raw, links)
    out.update(fields)
    out["toolclass"] = _class_fields(raw.toolclass)
    for version, dumped in zip(raw.versions, out["versions"], strict=True):
        dumped.update(_version_fields(upstream, raw.id, fields["url"], version))
    return out


def present_tool_class(raw: dict[str, Any]) -> ToolClass | None:
    toolclass = ToolClass.model_validate(raw)
    if not (toolclass.name or toolclass.id):
        return None
    return canonical_class(toolclass)


def present_wrapper(raw: FileWrapper, descriptor_url: str | None) -> FileWrapper:
    url = descriptor_url
    if url is None and raw.url and raw.url.startswith(("http://", "https://")):
        url = raw.url
    return raw.model_copy(update={"url": url})
