"""The TRS 2.0.1 routes, mounted once under every configured base path.

Handlers only translate between HTTP and :class:`~gateway.answers.Answers`:
they parse path and query parameters, resolve the tool a path names once
(:meth:`Federation.locate <gateway.federation.core.Federation.locate>`), pick
the representation the client asked for, ask for the answer and write it,
answering ``304`` when ``If-None-Match`` matches its ETag.
"""

from __future__ import annotations

from aiohttp import web

from .. import TRS_VERSION, __version__
from ..answers import Answer, Answers, Ask
from ..errors import BadRequest
from ..federation.core import Located
from ..federation.filters import parse_filters
from ..ids import check_id, check_text
from ..negotiation import prefers
from ..ops.hot import ANSWERED
from ..responses import etags_of, json_response
from ..runtime import GENERATION, Generation
from ..trs.models import Service, ServiceOrganization, ServiceType
from ..trs.types import DescriptorType, parse_descriptor_type

__all__ = ["TrsRoutes", "make_trs_app"]


def _tool_id(request: web.Request) -> str:
    return check_id(request.match_info["id"])


def _version(request: web.Request) -> str:
    return check_id(request.match_info["version_id"], "version id")


def _type(request: web.Request, *, allow_plain: bool = True) -> DescriptorType:
    return parse_descriptor_type(request.match_info["type"], allow_plain=allow_plain)


def _relative_path(request: web.Request) -> str:
    """The path of a file beside the primary descriptor: climbing out of its directory
    is refused whether the steps are separated by ``/`` or ``\\`` (``%5C``)."""
    raw = check_text(request.match_info["relative_path"], "relative_path")
    steps = raw.replace("\\", "/").split("/")
    if ".." in steps:
        raise BadRequest("relative_path may not climb out of the descriptor's directory")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts:
        raise BadRequest("empty relative_path")
    return "/".join(parts)


def prefers_plain(request: web.Request) -> bool:
    """Whether the client would rather have ``text/plain`` than JSON."""
    return prefers(request.headers.get("Accept"), "text/plain")


def prefers_zip(request: web.Request) -> bool:
    return prefers(request.headers.get("Accept"), "application/zip")


def _limit(request: web.Request, generation: Generation) -> int:
    federation = generation.config.federation
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


def respond(request: web.Request, answer: Answer) -> web.Response:
    """The response for ``answer``: ``304`` when the client already has it. The answer
    is noted on the request, so the access middleware can keep it as a hot answer."""
    request[ANSWERED] = answer
    if answer.etag in etags_of(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=answer.headers)
    return web.Response(
        body=answer.body, headers={**answer.headers, "Content-Type": answer.content_type}
    )


class TrsRoutes:
    """The handlers of one base path."""

    def __init__(self, base_path: str, answers: Answers) -> None:
        self.base_path = base_path
        self.answers = answers

    def ask(self, request: web.Request) -> Ask:
        """The generation serving ``request`` and the base URL its links start with."""
        generation = request[GENERATION]
        origin = generation.config.server.public_url or f"{request.scheme}://{request.host}"
        return Ask(generation, origin + self.base_path)

    async def _locate(self, ask: Ask, request: web.Request) -> tuple[Located, str]:
        """The tool and the version a version route names (cwltool's split undone)."""
        tool_id, version_id = _tool_id(request), _version(request)
        return await ask.generation.federation.locate_version(tool_id, version_id)

    async def service_info(self, request: web.Request) -> web.Response:
        info = request[GENERATION].config.service_info
        service = Service(
            id=info.id,
            name=info.name,
            type=ServiceType(group="org.ga4gh", artifact="trs", version=TRS_VERSION),
            description=info.description,
            organization=ServiceOrganization(
                name=info.organization.name, url=info.organization.url
            ),
            contactUrl=info.contact_url,
            documentationUrl=info.documentation_url,
            environment=info.environment,
            version=__version__,
        )
        return json_response(service.dump())

    async def tool_classes(self, request: web.Request) -> web.Response:
        return respond(request, await self.answers.tool_classes(self.ask(request)))

    async def tools(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        limit = _limit(request, ask.generation)
        offset = request.query.get("offset") or None
        filters = parse_filters(request.query)
        kept = [(k, v) for k, v in request.query.items() if k not in ("offset", "limit")]
        return respond(request, await self.answers.tools(ask, filters, limit, offset, kept))

    async def tool(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        where = await ask.generation.federation.locate(_tool_id(request))
        return respond(request, await self.answers.tool(ask, where))

    async def versions(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        where = await ask.generation.federation.locate(_tool_id(request))
        return respond(request, await self.answers.versions(ask, where))

    async def version(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        where, version_id = await self._locate(ask, request)
        return respond(request, await self.answers.version(ask, where, version_id))

    async def _descriptor(self, request: web.Request, relative: str | None) -> web.Response:
        ask = self.ask(request)
        dtype = _type(request)
        plain = dtype.plain or prefers_plain(request)
        where, version_id = await self._locate(ask, request)
        answer = await self.answers.descriptor(
            ask,
            where,
            version_id,
            dtype.language,
            relative,
            plain=plain,
            negotiated=not dtype.plain,
        )
        return respond(request, answer)

    async def descriptor(self, request: web.Request) -> web.Response:
        return await self._descriptor(request, None)

    async def descriptor_relative(self, request: web.Request) -> web.Response:
        return await self._descriptor(request, _relative_path(request))

    async def files(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        language = _type(request, allow_plain=False).language
        fmt = request.query.get("format")
        if fmt not in (None, "", "zip"):
            raise BadRequest(f"format must be zip, not {fmt!r}")
        where, version_id = await self._locate(ask, request)
        if fmt == "zip" or prefers_zip(request):
            answer = await self.answers.zip(ask, where, version_id, language)
        else:
            answer = await self.answers.files(ask, where, version_id, language)
        return respond(request, answer)

    async def tests(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        language = _type(request).language
        where, version_id = await self._locate(ask, request)
        return respond(request, await self.answers.tests(ask, where, version_id, language))

    async def containerfile(self, request: web.Request) -> web.Response:
        ask = self.ask(request)
        where, version_id = await self._locate(ask, request)
        return respond(request, await self.answers.containerfile(ask, where, version_id))


def make_trs_app(base_path: str, answers: Answers) -> web.Application:
    """The TRS routes, to be mounted at ``base_path``."""
    routes = TrsRoutes(base_path, answers)
    app = web.Application()
    version_path = "/tools/{id}/versions/{version_id}"
    # Tried in order: what platforms fetch most (descriptors, files) first. No two of
    # these patterns match the same path, so the order changes nothing else.
    app.router.add_get(f"{version_path}/{{type}}/descriptor", routes.descriptor)
    app.router.add_get(
        f"{version_path}/{{type}}/descriptor/{{relative_path:.+}}", routes.descriptor_relative
    )
    app.router.add_get(f"{version_path}/{{type}}/files", routes.files)
    app.router.add_get("/tools/{id}", routes.tool)
    app.router.add_get(version_path, routes.version)
    app.router.add_get("/tools/{id}/versions", routes.versions)
    app.router.add_get("/tools", routes.tools)
    app.router.add_get(f"{version_path}/{{type}}/tests", routes.tests)
    app.router.add_get(f"{version_path}/containerfile", routes.containerfile)
    app.router.add_get("/toolClasses", routes.tool_classes)
    app.router.add_get("/service-info", routes.service_info)
    return app
