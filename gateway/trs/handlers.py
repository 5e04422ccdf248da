"""The TRS 2.0.1 routes, mounted once under every configured base path.

Handlers only translate between HTTP and :class:`~gateway.federation.core.Federation`:
they parse path and query parameters, pick the representation the client
asked for, and write pagination and partial-result headers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from .. import TRS_VERSION, __version__
from ..cache import BASE_MARK, Fill, Outcome
from ..cache.tiered import FillFn
from ..errors import BadRequest, GatewayError
from ..federation.core import Federation, Located
from ..federation.filters import parse_filters
from ..federation.ids import check_id
from ..federation.present import Links, present_tool
from ..keys import BASE_PATH, CACHE, RUNTIME
from ..negotiation import prefers
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
    config = request.config_dict[RUNTIME].config
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


def prefers_plain(request: web.Request) -> bool:
    """Whether the client would rather have ``text/plain`` than JSON."""
    return prefers(request.headers.get("Accept"), "text/plain")


def prefers_zip(request: web.Request) -> bool:
    return prefers(request.headers.get("Accept"), "application/zip")


# -- caching -------------------------------------------------------------------

JSON_TYPE = "application/json"
PLAIN_TYPE = "text/plain; charset=utf-8"
ZIP_TYPE = "application/zip"


def template_links() -> Links:
    """Links whose base is the placeholder every cached body is stored with."""
    return Links(BASE_MARK)


def json_fill(value: Any, fresh_for: float, headers: dict[str, str] | None = None) -> Fill:
    return Fill(orjson.dumps(value), JSON_TYPE, fresh_for, headers or {})


Transform = Callable[[bytes], bytes]


async def cached(
    request: web.Request, key: str, fill: FillFn, transform: Transform | None = None
) -> web.Response:
    """Answer from the cache, filling it with ``fill`` on a miss.

    Sets ``X-Cache`` (``HIT``, ``STALE`` or ``MISS``), ``X-Cache-Source``
    (``memory``, ``redis`` or ``upstream``), ``Age``, a strong ``ETag`` and
    ``Cache-Control``; answers ``304`` when ``If-None-Match`` matches.
    ``transform`` rewrites a JSON body on its way out (identity aliases, which
    change independently of the cached answer); the ETag then covers its result.
    """
    cache = request.config_dict[CACHE]
    lookup = await cache.fetch(key, fill)
    entry = lookup.entry
    base = links(request).base
    body = entry.body
    if entry.content_type.startswith(JSON_TYPE):
        body = body.replace(BASE_MARK.encode(), base.encode())
        headers = {k: v.replace(BASE_MARK, base) for k, v in entry.headers.items()}
    else:
        headers = dict(entry.headers)
    now = time.time()
    tagged = f"{entry.digest} {base}".encode()
    if transform is not None and entry.content_type.startswith(JSON_TYPE):
        transformed = transform(body)
        if transformed is not body:
            body = tagged = transformed
    etag = '"' + hashlib.sha256(tagged).hexdigest()[:32] + '"'
    remaining = 0 if lookup.outcome is Outcome.STALE else int(entry.fresh_for - entry.age(now))
    config = request.config_dict[RUNTIME].config.cache
    headers.update(
        {
            "X-Cache": lookup.outcome.value,
            "X-Cache-Source": lookup.source,
            "Age": str(int(entry.age(now))),
            "ETag": etag,
            "Cache-Control": (
                f"public, max-age={max(remaining, 0)}, "
                f"stale-while-revalidate={int(config.stale_while_revalidate)}, "
                f"stale-if-error={int(config.stale_if_error)}"
            ),
        }
    )
    if etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = entry.content_type
    return web.Response(body=body, headers=headers)


def _etags(value: str) -> set[str]:
    tags = {t.strip().removeprefix("W/") for t in value.split(",") if t.strip()}
    return tags


# -- handlers ------------------------------------------------------------------


async def service_info(request: web.Request) -> web.Response:
    config = request.config_dict[RUNTIME].config
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
    config = request.config_dict[RUNTIME].config
    federation = request.config_dict[RUNTIME].federation

    async def fill() -> Fill:
        classes, errors = await federation.tool_classes()
        result = json_fill([c.dump() for c in classes], config.lifetime(None, "listing"))
        result.headers.update(_partial(errors))
        result.cacheable = not errors
        return result

    key = request.config_dict[CACHE].keys.listing("toolClasses")
    return await cached(request, key, fill)


def _limit(request: web.Request) -> int:
    federation = request.config_dict[RUNTIME].config.federation
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
    config = request.config_dict[RUNTIME].config
    federation = request.config_dict[RUNTIME].federation
    limit = _limit(request)
    offset = request.query.get("offset") or None
    filters = parse_filters(request.query)
    kept = [(k, v) for k, v in request.query.items() if k not in ("offset", "limit")]

    async def fill() -> Fill:
        page = await federation.list_tools(filters, limit, offset)
        where = template_links()
        body = [present_tool(up, found, where).dump() for up, found in page.tools]

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
        result = json_fill(body, config.lifetime(None, "listing"), headers)
        result.cacheable = not page.errors
        return result

    digest = hashlib.sha256(
        orjson.dumps(sorted([*filters.items(), ("limit", str(limit)), ("offset", offset or "")]))
    ).hexdigest()
    key = request.config_dict[CACHE].keys.listing(digest)
    return await cached(request, key, fill, _add_aliases(federation, many=True))


def _add_aliases(federation: Federation, *, many: bool) -> Transform:
    """A transform adding each tool's identity aliases (twins, canonical keys) to ``aliases``."""

    def transform(body: bytes) -> bytes:
        value = orjson.loads(body)
        changed = False
        for tool in value if many else [value]:
            if not isinstance(tool, dict) or not isinstance(tool.get("id"), str):
                continue
            extra = federation.identity.aliases(tool["id"])
            if extra:
                own = tool.get("aliases") or []
                tool["aliases"] = list(dict.fromkeys([*own, *extra]))
                changed = True
        return orjson.dumps(value) if changed else body

    return transform


async def _answer(
    request: web.Request,
    kind: str,
    produce: Callable[[Located], Awaitable[Fill]],
    *,
    version: str | None = None,
    dtype: str | None = None,
    path: str | None = None,
) -> web.Response:
    """A cached answer about one tool: located first, so the key names its upstream."""
    federation = request.config_dict[RUNTIME].federation
    where = await federation.locate(_tool_id(request))
    key = request.config_dict[CACHE].keys.answer(
        kind, where.upstream.name, where.tool_id, version, dtype, path
    )
    transform = _add_aliases(federation, many=False) if kind == "tool" else None
    response = await cached(request, key, lambda: produce(where), transform)
    if where.alternatives:
        tool_links = links(request)
        response.headers["Link"] = ", ".join(
            f'<{tool_links.tool(gid)}>; rel="alternate"' for gid in where.alternatives
        )
    return response


def _metadata(request: web.Request, where: Located) -> float:
    return request.config_dict[RUNTIME].config.lifetime(where.upstream.name, "metadata")


async def _content_lifetime(
    request: web.Request, where: Located, version: str, checksummed: bool
) -> float:
    """Long for content that cannot change: checksummed, or of a production version.

    Whether the version is production comes from its (cached) version answer,
    so this costs an upstream request at most once per version lifetime.
    """
    config = request.config_dict[RUNTIME].config
    immutable = checksummed
    if not immutable:
        key = request.config_dict[CACHE].keys.answer(
            "version", where.upstream.name, where.tool_id, version
        )
        try:
            lookup = await request.config_dict[CACHE].fetch(
                key, lambda: _version_fill(request, where, version)
            )
            immutable = orjson.loads(lookup.entry.body).get("is_production") is True
        except GatewayError:
            immutable = False
    kind = "content_immutable" if immutable else "content"
    return config.lifetime(where.upstream.name, kind)


async def _version_fill(request: web.Request, where: Located, version_id: str) -> Fill:
    federation = request.config_dict[RUNTIME].federation
    found = await federation.version(where.gid, version_id, template_links())
    return json_fill(found.dump(), _metadata(request, where))


async def tool(request: web.Request) -> web.Response:
    federation = request.config_dict[RUNTIME].federation

    async def produce(where: Located) -> Fill:
        found = await federation.tool(where.gid, template_links())
        return json_fill(found.dump(), _metadata(request, where))

    return await _answer(request, "tool", produce)


async def versions(request: web.Request) -> web.Response:
    federation = request.config_dict[RUNTIME].federation

    async def produce(where: Located) -> Fill:
        found = await federation.versions(where.gid, template_links())
        return json_fill([v.dump() for v in found], _metadata(request, where))

    return await _answer(request, "versions", produce)


async def version(request: web.Request) -> web.Response:
    version_id = _version(request)

    async def produce(where: Located) -> Fill:
        return await _version_fill(request, where, version_id)

    return await _answer(request, "version", produce, version=version_id)


async def _descriptor(request: web.Request, relative: str | None) -> web.Response:
    federation = request.config_dict[RUNTIME].federation
    dtype = _type(request)
    version_id = _version(request)
    language = dtype.language
    plain = dtype.plain or prefers_plain(request)

    async def produce(where: Located) -> Fill:
        if plain:
            body, checked = await federation.plain_descriptor(
                where.gid, version_id, language, relative
            )
            lifetime = await _content_lifetime(request, where, version_id, checked)
            return Fill(body, PLAIN_TYPE, lifetime)
        wrapper = await federation.descriptor(
            where.gid, version_id, language, relative, template_links()
        )
        lifetime = await _content_lifetime(request, where, version_id, bool(wrapper.checksum))
        return json_fill(wrapper.dump(), lifetime)

    kind = "plain" if plain else "descriptor"
    return await _answer(
        request, kind, produce, version=version_id, dtype=str(language), path=relative
    )


async def descriptor(request: web.Request) -> web.Response:
    return await _descriptor(request, None)


async def descriptor_relative(request: web.Request) -> web.Response:
    return await _descriptor(request, _relative_path(request))


async def files(request: web.Request) -> web.Response:
    federation = request.config_dict[RUNTIME].federation
    dtype = _type(request, allow_plain=False)
    version_id = _version(request)
    language = dtype.language
    fmt = request.query.get("format")
    if fmt not in (None, "", "zip"):
        raise BadRequest(f"format must be zip, not {fmt!r}")
    if fmt == "zip" or prefers_zip(request):

        async def produce_zip(where: Located) -> Fill:
            archive = await federation.zip(where.gid, version_id, language)
            headers = {"Content-Disposition": f'attachment; filename="{archive.filename}"'}
            if archive.missing:
                headers["X-TRS-Gateway-Zip-Missing"] = ", ".join(archive.missing)
            lifetime = await _content_lifetime(request, where, version_id, False)
            return Fill(archive.body, ZIP_TYPE, lifetime, headers)

        return await _answer(request, "zip", produce_zip, version=version_id, dtype=str(language))

    async def produce(where: Located) -> Fill:
        listing = await federation.files(where.gid, version_id, language)
        checksummed = bool(listing) and all(f.checksum is not None for f in listing)
        lifetime = await _content_lifetime(request, where, version_id, checksummed)
        return json_fill([f.dump() for f in listing], lifetime)

    return await _answer(request, "files", produce, version=version_id, dtype=str(language))


async def tests(request: web.Request) -> web.Response:
    federation = request.config_dict[RUNTIME].federation
    language = _type(request).language
    version_id = _version(request)

    async def produce(where: Located) -> Fill:
        found = await federation.tests(where.gid, version_id, language)
        checksummed = bool(found) and all(w.checksum for w in found)
        lifetime = await _content_lifetime(request, where, version_id, checksummed)
        return json_fill([w.dump() for w in found], lifetime)

    return await _answer(request, "tests", produce, version=version_id, dtype=str(language))


async def containerfile(request: web.Request) -> web.Response:
    federation = request.config_dict[RUNTIME].federation
    version_id = _version(request)

    async def produce(where: Located) -> Fill:
        found = await federation.containerfile(where.gid, version_id)
        lifetime = await _content_lifetime(request, where, version_id, False)
        return json_fill([w.dump() for w in found], lifetime)

    return await _answer(request, "containerfile", produce, version=version_id)


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
