"""The TRS 2.0.1 routes, mounted once under every configured base path.

Handlers only translate between HTTP and :class:`~gateway.federation.core.Federation`:
they parse path and query parameters, pick the representation the client
asked for, and write pagination and partial-result headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from .. import TRS_VERSION, __version__
from ..errors import BadRequest, GatewayError
from ..federation.ids import check_id
from ..federation.present import Links, present_tool
from ..keys import BASE_PATH, CONFIG, FEDERATION
from .models import Service, ServiceOrganization, ServiceType
from .types import DescriptorType, parse_descriptor_type

__all__ = ["MISSING_HEADER", "json_response", "make_trs_app", "missing_header_value"]

MISSING_HEADER = "X-TRS-Gateway-Missing"
"""Names the upstreams left out of a fan-out answer, and why."""

PAGINATION_HEADERS = ("next_page", "last_page", "self_link", "current_offset", "current_limit")


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(value),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def missing_header_value(errors: Mapping[str, GatewayError]) -> str:
    """``"name";reason="timeout", ...`` (an RFC 8941 list of strings with a parameter)."""
    parts = []
    for name, error in errors.items():
        reason = getattr(error, "reason", "error")
        parts.append(f'"{name}";reason="{reason}"')
    return ", ".join(parts)


def _partial(errors: Mapping[str, GatewayError]) -> dict[str, str]:
    return {MISSING_HEADER: missing_header_value(errors)} if errors else {}


def links(request: web.Request) -> Links:
    config = request.config_dict[CONFIG]
    origin = config.server.public_url or f"{request.scheme}://{request.host}"
    return Links(origin + request.app[BASE_PATH])


def _tool_id(request: web.Request) -> str:
    return check_id(request.match_info["id"])


def _version(request: web.Request) -> str:
    return check_id(request.match_info["version_id"], "version id")


def _type(request: web.Request, *, allow_plain: bool = True) -> DescriptorType:
    return parse_descriptor_type(request.match_info["type"], allow_plain=allow_plain)


def _relative_path(request: web.Request) -> str:
    parts = [p for p in request.match_info["relative_path"].split("/") if p not in ("", ".")]
    if not parts:
        raise BadRequest("empty relative_path")
    if ".." in parts:
        raise BadRequest("relative_path may not climb out of the descriptor's directory")
    return "/".join(parts)


def _quality(accept: str, media_type: str) -> float:
    """The q-value ``accept`` gives ``media_type`` (exact, ``type/*`` or ``*/*``)."""
    best, best_specificity = 0.0, -1
    major = media_type.split("/")[0]
    for item in accept.split(","):
        fields = [f.strip() for f in item.split(";")]
        pattern = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if pattern == media_type:
            specificity = 2
        elif pattern == f"{major}/*":
            specificity = 1
        elif pattern == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best, best_specificity = q, specificity
    return best


def prefers_plain(request: web.Request) -> bool:
    """Whether the client would rather have ``text/plain`` than JSON."""
    accept = request.headers.get("Accept", "")
    if not accept:
        return False
    return _quality(accept, "text/plain") > _quality(accept, "application/json")


def prefers_zip(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return bool(accept) and _quality(accept, "application/zip") > _quality(
        accept, "application/json"
    )


# -- handlers ------------------------------------------------------------------


async def service_info(request: web.Request) -> web.Response:
    config = request.config_dict[CONFIG]
    info = config.service_info
    service = Service(
        id=info.id,
        name=info.name,
        type=ServiceType(group="org.ga4gh", artifact="trs", version=TRS_VERSION),
        description=info.description,
        organization=ServiceOrganization(name=info.organization.name, url=info.organization.url),
        contactUrl=info.contact_url,
        documentationUrl=info.documentation_url,
        environment=info.environment,
        version=__version__,
    )
    return json_response(service.dump())


async def tool_classes(request: web.Request) -> web.Response:
    classes, errors = await request.config_dict[FEDERATION].tool_classes()
    return json_response([c.dump() for c in classes], headers=_partial(errors))


def _limit(request: web.Request) -> int:
    federation = request.config_dict[CONFIG].federation
    raw = request.query.get("limit")
    if raw is None or raw == "":
        return federation.default_limit
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be a positive integer, not {raw!r}") from None
    if limit < 1:
        raise BadRequest("limit must be at least 1")
    return min(limit, federation.max_limit)


async def tools(request: web.Request) -> web.Response:
    federation = request.config_dict[FEDERATION]
    limit = _limit(request)
    offset = request.query.get("offset")
    page = await federation.list_tools(request.query, limit, offset)
    where = links(request)
    body = [present_tool(upstream, found, where).dump() for upstream, found in page.tools]
    kept = [(k, v) for k, v in request.query.items() if k not in ("offset", "limit")]

    def page_url(cursor: str | None) -> str:
        query = [*kept, ("limit", str(limit))]
        if cursor:
            query.append(("offset", cursor))
        return f"{where.tools()}?{urlencode(query)}"

    headers = {
        "self_link": page_url(offset),
        "current_offset": offset or "0",
        "current_limit": str(limit),
        **_partial(page.errors),
    }
    if page.next_cursor is not None:
        headers["next_page"] = page_url(page.next_cursor)
    elif not page.errors:
        headers["last_page"] = headers["self_link"]
    return json_response(body, headers=headers)


async def tool(request: web.Request) -> web.Response:
    found = await request.config_dict[FEDERATION].tool(_tool_id(request), links(request))
    return json_response(found.dump())


async def versions(request: web.Request) -> web.Response:
    found = await request.config_dict[FEDERATION].versions(_tool_id(request), links(request))
    return json_response([v.dump() for v in found])


async def version(request: web.Request) -> web.Response:
    federation = request.config_dict[FEDERATION]
    found = await federation.version(_tool_id(request), _version(request), links(request))
    return json_response(found.dump())


async def _descriptor(request: web.Request, relative: str | None) -> web.Response:
    federation = request.config_dict[FEDERATION]
    dtype = _type(request)
    tool_id, version_id = _tool_id(request), _version(request)
    if dtype.plain or prefers_plain(request):
        body = await federation.plain_descriptor(tool_id, version_id, dtype.language, relative)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")
    wrapper = await federation.descriptor(
        tool_id, version_id, dtype.language, relative, links(request)
    )
    return json_response(wrapper.dump())


async def descriptor(request: web.Request) -> web.Response:
    return await _descriptor(request, None)


async def descriptor_relative(request: web.Request) -> web.Response:
    return await _descriptor(request, _relative_path(request))


async def files(request: web.Request) -> web.Response:
    federation = request.config_dict[FEDERATION]
    dtype = _type(request, allow_plain=False)
    tool_id, version_id = _tool_id(request), _version(request)
    fmt = request.query.get("format")
    if fmt not in (None, "", "zip"):
        raise BadRequest(f"format must be zip, not {fmt!r}")
    if fmt == "zip" or prefers_zip(request):
        archive = await federation.zip(tool_id, version_id, dtype.language)
        headers = {"Content-Disposition": f'attachment; filename="{archive.filename}"'}
        if archive.missing:
            headers["X-TRS-Gateway-Zip-Missing"] = ", ".join(archive.missing)
        return web.Response(body=archive.body, content_type="application/zip", headers=headers)
    listing = await federation.files(tool_id, version_id, dtype.language)
    return json_response([f.dump() for f in listing])


async def tests(request: web.Request) -> web.Response:
    federation = request.config_dict[FEDERATION]
    dtype = _type(request)
    found = await federation.tests(_tool_id(request), _version(request), dtype.language)
    return json_response([w.dump() for w in found])


async def containerfile(request: web.Request) -> web.Response:
    federation = request.config_dict[FEDERATION]
    found = await federation.containerfile(_tool_id(request), _version(request))
    return json_response([w.dump() for w in found])


def make_trs_app(base_path: str) -> web.Application:
    """The TRS routes, to be mounted at ``base_path``."""
    app = web.Application()
    app[BASE_PATH] = base_path
    version_path = "/tools/{id}/versions/{version_id}"
    app.router.add_get("/service-info", service_info)
    app.router.add_get("/toolClasses", tool_classes)
    app.router.add_get("/tools", tools)
    app.router.add_get("/tools/{id}", tool)
    app.router.add_get("/tools/{id}/versions", versions)
    app.router.add_get(version_path, version)
    app.router.add_get(f"{version_path}/containerfile", containerfile)
    app.router.add_get(f"{version_path}/{{type}}/descriptor", descriptor)
    app.router.add_get(
        f"{version_path}/{{type}}/descriptor/{{relative_path:.+}}", descriptor_relative
    )
    app.router.add_get(f"{version_path}/{{type}}/files", files)
    app.router.add_get(f"{version_path}/{{type}}/tests", tests)
    return app
