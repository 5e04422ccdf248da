"""The one place a request gets its answer from: cache first, the federation on a miss.

A TRS handler parses its request, resolves the tool it names once (a
:class:`~gateway.federation.core.Located`), and asks :class:`Answers` for the
answer. Answers looks the answer up in the cache; on a miss the cache calls
the *fill* given here, which asks the federation (and so the upstream
client), turns its result into the bytes to send, and gives them a lifetime
from the caching policy (:class:`~gateway.cache.CachePolicy`).

What comes back is an :class:`Answer`: body, content type and every header
(``X-Cache``, ``Age``, a strong ``ETag``, ``Cache-Control``, pagination,
``Link`` alternates), ready to be written. Cached bodies hold a placeholder
for the gateway's own base URL, filled in here per request, so one entry
serves every host and base path.

Each request uses one :class:`~gateway.runtime.Generation` (configuration and
federation) from start to end, including for any fill it starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from .cache import BASE_MARK, CachePolicy, CacheStatus, Entry, Fill, TieredCache
from .errors import GatewayError, NotFound, UpstreamTimeout
from .federation.core import Located
from .federation.present import Links, present_tool_json
from .index import Identity
from .integrity import SHA256, has_sha256
from .responses import MISSING_HEADER, header_safe, missing_header_value
from .runtime import Generation
from .store import AnswerKind
from .trs.models import Checksum, FileType, ToolFile
from .trs.types import Language
from .yielding import map_yielding

__all__ = ["Answer", "Answers", "Ask", "Reuse"]

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
PLAIN_TYPE = "text/plain; charset=utf-8"
ZIP_TYPE = "application/zip"
ZIP_MISSING_HEADER = "X-TRS-Gateway-Zip-Missing"

CHECKSUM_CONCURRENCY = 8
"""Files of one listing whose content is fetched at once to checksum them."""

TEMPLATE = Links(BASE_MARK)
"""Links whose base is the placeholder every cached body is stored with."""


@dataclass(frozen=True, slots=True)
class Ask:
    """Who is asking: the generation serving the request and the base URL it came to."""

    generation: Generation
    base: str
    """``<origin><base path>`` of the request: what stored bodies' placeholder becomes."""

    @property
    def policy(self) -> CachePolicy:
        return CachePolicy(self.generation.config)

    @property
    def links(self) -> Links:
        return Links(self.base)


@dataclass(frozen=True, slots=True)
class Reuse:
    """What an answer made from a fresh cache entry stays valid for: as long as the
    cache still answers ``key`` with ``entry`` (see ``TieredCache.hot_tier``) and,
    for answers carrying identity aliases, the identity index has seen no change
    since ``identity_changes``."""

    key: str
    entry: Entry
    identity_changes: int | None


@dataclass(slots=True)
class Answer:
    """Everything needed to write the response."""

    body: bytes
    content_type: str
    etag: str
    headers: dict[str, str] = field(default_factory=dict)
    reuse: Reuse | None = None
    """Set when the same request may be answered again with the same bytes (see
    :mod:`gateway.ops.hot`); ``None`` for stale, partial and uncached answers."""


Transform = Callable[[bytes], bytes]


def _json_fill(value: Any, fresh_for: float, headers: dict[str, str] | None = None) -> Fill:
    return Fill(orjson.dumps(value), JSON_TYPE, fresh_for, headers or {})


def _tool_json(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool's JSON with ``aliases`` first, always present (see ``_add_tool_aliases``)."""
    return {"aliases": tool.pop("aliases", None) or [], **tool}


_LEADING_ALIASES = b'{"aliases":['


def _split_leading_aliases(body: bytes) -> tuple[list[str], bytes] | None:
    """``body``'s leading ``"aliases"`` array and what follows it (from its ``,`` or
    ``}``), or ``None`` if the body does not start with one."""
    if not body.startswith(_LEADING_ALIASES):
        return None
    in_string = escaped = False
    for index in range(len(_LEADING_ALIASES), len(body)):
        char = body[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == 0x5C:  # backslash
                escaped = True
            elif char == 0x22:  # quote
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char == 0x5D:  # the closing bracket
            try:
                own = orjson.loads(body[len(_LEADING_ALIASES) - 1 : index + 1])
            except orjson.JSONDecodeError:
                return None
            if not isinstance(own, list) or not all(isinstance(a, str) for a in own):
                return None
            return own, body[index + 1 :]
    return None


class Answers:
    """Cached answers to every TRS question, over the application's cache and index."""

    def __init__(self, cache: TieredCache, identity: Identity) -> None:
        self.cache = cache
        self.identity = identity

    # -- the cache, and what is sent ---------------------------------------------

    async def _cached(
        self,
        ask: Ask,
        key: str,
        fill: Callable[[], Awaitable[Fill]],
        transform: Transform | None = None,
        *,
        filled_transformed: bool = False,
    ) -> Answer:
        """Answer from the cache, filling it with ``fill`` on a miss.

        ``transform`` rewrites a JSON body on its way out (identity aliases,
        which change independently of the cached answer); the ETag then covers
        its result. ``filled_transformed``: the fill applies it itself, so a body
        just filled is not transformed again.
        """
        lookup = await self.cache.fetch(key, fill)
        entry = lookup.entry
        base = ask.base
        body = entry.body
        if entry.content_type.startswith(JSON_TYPE):
            body = body.replace(BASE_MARK.encode(), base.encode())
            headers = {k: v.replace(BASE_MARK, base) for k, v in entry.headers.items()}
        else:
            headers = dict(entry.headers)
        now = time.time()
        tagged = f"{entry.digest} {base}".encode()
        identity_changes = None
        if transform is not None and entry.content_type.startswith(JSON_TYPE):
            identity_changes = self.identity.changes
            if filled_transformed and lookup.status is CacheStatus.MISS:
                tagged = body  # just filled, aliases in: tagged as a transformed body is
            else:
                transformed = transform(body)
                if transformed is not body:
                    body = tagged = transformed
        etag = '"' + hashlib.sha256(tagged).hexdigest()[:32] + '"'
        stale = lookup.status is CacheStatus.STALE
        fresh = 0.0 if stale else entry.fresh_for - entry.age(now)
        partial = MISSING_HEADER in headers
        headers.update(
            {
                "X-Cache": lookup.status.value,
                "X-Cache-Source": lookup.source.value,
                "Age": str(int(entry.age(now))),
                "ETag": etag,
                "Cache-Control": "no-store" if partial else ask.policy.cache_control(fresh),
            }
        )
        reuse = None if stale or partial else Reuse(key, entry, identity_changes)
        return Answer(body, entry.content_type, etag, headers, reuse)

    async def _about(
        self,
        ask: Ask,
        where: Located,
        kind: AnswerKind,
        produce: Callable[[], Awaitable[Fill]],
        *,
        version: str | None = None,
        language: Language | None = None,
        path: str | None = None,
        negotiated: bool = False,
    ) -> Answer:
        """A cached answer about one located tool; its key names the upstream.

        ``negotiated``: the URL has other representations chosen by ``Accept``
        (JSON, plain text, zip), so the answer carries ``Vary: Accept``.
        """
        key = self._key(kind, where, version, language, path)
        transform = self._add_tool_aliases(where.gid) if kind is AnswerKind.TOOL else None
        budget = ask.generation.config.federation.budget

        async def bounded() -> Fill:
            try:
                async with asyncio.timeout(budget):
                    return await produce()
            except TimeoutError:
                raise UpstreamTimeout(
                    where.upstream.name, f"no complete answer within the {budget:g}s budget"
                ) from None

        answer = await self._cached(ask, key, bounded, transform)
        if negotiated:
            answer.headers["Vary"] = "Accept"
        if where.alternatives:
            answer.headers["Link"] = header_safe(
                ", ".join(f'<{ask.links.tool(gid)}>; rel="alternate"' for gid in where.alternatives)
            )
        return answer

    def _key(
        self,
        kind: AnswerKind,
        where: Located,
        version: str | None = None,
        language: Language | None = None,
        path: str | None = None,
    ) -> str:
        """The cache key of an answer about the located tool."""
        dtype = None if language is None else str(language)
        return self.cache.keys.answer(
            kind, where.upstream.name, where.tool_id, version, dtype, path
        )

    def _add_tool_aliases(self, gid: str) -> Transform:
        """A transform adding tool ``gid``'s identity aliases to its answer.

        Tool answers are stored with ``"aliases"`` as their first member (see
        :func:`_tool_json`), so the new aliases are spliced in without reading
        the rest of the body, which can be megabytes for a tool with many
        versions. Bodies of another shape are parsed as a whole.
        """
        general = self._add_aliases(many=False)

        def transform(body: bytes) -> bytes:
            extra = self.identity.aliases(gid)
            if not extra:
                return body
            split = _split_leading_aliases(body)
            if split is None:
                return general(body)
            own, rest = split
            merged = list(dict.fromkeys([*own, *extra]))
            return b'{"aliases":' + orjson.dumps(merged) + rest

        return transform

    def _merge_aliases(self, tool: Any) -> bool:
        """Add the identity aliases of ``tool`` (a tool's JSON) to it; ``True`` if any."""
        if not isinstance(tool, dict) or not isinstance(tool.get("id"), str):
            return False
        extra = self.identity.aliases(tool["id"])
        if not extra:
            return False
        own = tool.get("aliases") or []
        tool["aliases"] = list(dict.fromkeys([*own, *extra]))
        return True

    def _add_aliases(self, *, many: bool) -> Transform:
        """A transform adding each tool's identity aliases (twins, canonical keys)."""

        def transform(body: bytes) -> bytes:
            value = orjson.loads(body)
            changed = False
            for tool in value if many else [value]:
                changed |= self._merge_aliases(tool)
            return orjson.dumps(value) if changed else body

        return transform

    # -- across upstreams ----------------------------------------------------------

    async def tool_classes(self, ask: Ask) -> Answer:
        federation = ask.generation.federation

        async def fill() -> Fill:
            classes, errors = await federation.tool_classes()
            result = _json_fill([c.dump() for c in classes], ask.policy.listing())
            if errors:
                result.headers[MISSING_HEADER] = missing_header_value(errors)
            result.cacheable = not errors
            return result

        return await self._cached(ask, self.cache.keys.listing("toolClasses"), fill)

    async def tools(
        self,
        ask: Ask,
        filters: Mapping[str, str],
        limit: int,
        offset: str | None,
        kept: list[tuple[str, str]],
    ) -> Answer:
        """One page of ``/tools``; ``kept`` are the query parameters its page links repeat."""
        federation = ask.generation.federation

        async def fill() -> Fill:
            page = await federation.list_tools(filters, limit, offset)
            body = [present_tool_json(up, found, TEMPLATE) for up, found in page.tools]
            for tool in body:
                self._merge_aliases(tool)

            def page_url(cursor: str | None) -> str:
                query = [*kept, ("limit", str(limit))]
                if cursor:
                    query.append(("offset", cursor))
                return f"{TEMPLATE.tools()}?{urlencode(query)}"

            headers = {
                "self_link": page_url(offset),
                "current_offset": offset or "0",
                "current_limit": str(limit),
            }
            if page.errors:
                headers[MISSING_HEADER] = missing_header_value(page.errors)
            if page.next_cursor is not None:
                headers["next_page"] = page_url(page.next_cursor)
            elif not page.errors:
                headers["last_page"] = headers["self_link"]
            result = _json_fill(body, ask.policy.listing(), headers)
            result.cacheable = not page.errors
            return result

        digest = hashlib.sha256(
            orjson.dumps(
                sorted([*filters.items(), ("limit", str(limit)), ("offset", offset or "")])
            )
        ).hexdigest()
        key = self.cache.keys.listing(digest)
        return await self._cached(
            ask, key, fill, self._add_aliases(many=True), filled_transformed=True
        )

    # -- one tool ------------------------------------------------------------------

    async def tool(self, ask: Ask, where: Located) -> Answer:
        federation = ask.generation.federation

        async def produce() -> Fill:
            found = await federation.tool(where, TEMPLATE)
            lifetime = ask.policy.metadata(where.upstream.name)
            head = found.model_copy(update={"versions": []}).dump()
            head["versions"] = await map_yielding(lambda v: v.dump(), found.versions)
            return _json_fill(_tool_json(head), lifetime)

        return await self._about(ask, where, AnswerKind.TOOL, produce)

    async def versions(self, ask: Ask, where: Located) -> Answer:
        federation = ask.generation.federation

        async def produce() -> Fill:
            found = await federation.versions(where, TEMPLATE)
            lifetime = ask.policy.metadata(where.upstream.name)
            return _json_fill(await map_yielding(lambda v: v.dump(), found), lifetime)

        return await self._about(ask, where, AnswerKind.VERSIONS, produce)

    async def version(self, ask: Ask, where: Located, version: str) -> Answer:
        return await self._about(
            ask,
            where,
            AnswerKind.VERSION,
            lambda: self._version_fill(ask, where, version),
            version=version,
        )

    async def _version_fill(self, ask: Ask, where: Located, version: str) -> Fill:
        found = await ask.generation.federation.version(where, version, TEMPLATE)
        return _json_fill(found.dump(), ask.policy.metadata(where.upstream.name))

    async def _content_lifetime(
        self, ask: Ask, where: Located, version: str, checksummed: bool
    ) -> float:
        """Long for content that cannot change: checksummed, or of a production version.

        Whether the version is production comes from its (cached) version
        answer, so this costs an upstream request at most once per version
        lifetime.
        """
        immutable = checksummed
        if not immutable:
            key = self._key(AnswerKind.VERSION, where, version)
            try:
                lookup = await self.cache.fetch(
                    key, lambda: self._version_fill(ask, where, version)
                )
                immutable = orjson.loads(lookup.entry.body).get("is_production") is True
            except GatewayError:
                immutable = False
        return ask.policy.content(where.upstream.name, immutable=immutable)

    async def descriptor(
        self,
        ask: Ask,
        where: Located,
        version: str,
        language: Language,
        relative: str | None,
        *,
        plain: bool,
        negotiated: bool,
    ) -> Answer:
        """The descriptor as a ``FileWrapper``, or (``plain``) the raw file;
        ``negotiated`` when ``Accept`` chose between the two."""
        federation = ask.generation.federation

        async def produce() -> Fill:
            if plain:
                return await self._plain_fill(ask, where, version, language, relative)
            wrapper, checked = await federation.descriptor(
                where, version, language, relative, TEMPLATE
            )
            lifetime = await self._content_lifetime(ask, where, version, checked)
            return _json_fill(wrapper.dump(), lifetime)

        kind = AnswerKind.PLAIN if plain else AnswerKind.DESCRIPTOR
        return await self._about(
            ask,
            where,
            kind,
            produce,
            version=version,
            language=language,
            path=relative,
            negotiated=negotiated,
        )

    async def _plain_fill(
        self, ask: Ask, where: Located, version: str, language: Language, relative: str | None
    ) -> Fill:
        body, checked = await ask.generation.federation.plain_descriptor(
            where, version, language, relative
        )
        lifetime = await self._content_lifetime(ask, where, version, checked)
        return Fill(body, PLAIN_TYPE, lifetime)

    async def files(self, ask: Ask, where: Located, version: str, language: Language) -> Answer:
        """The files list, every file with a ``sha-256`` checksum: the upstream's, or the
        digest of the file's cached raw answer (so computing it costs each file one
        upstream request per content lifetime, shared with the descriptor routes)."""
        federation = ask.generation.federation

        async def produce() -> Fill:
            listing = await federation.files(where, version, language)
            checksummed = bool(listing) and all(f.checksum is not None for f in listing)
            listing = await self._with_checksums(ask, where, version, language, listing)
            lifetime = await self._content_lifetime(ask, where, version, checksummed)
            return _json_fill([f.dump() for f in listing], lifetime)

        return await self._about(
            ask,
            where,
            AnswerKind.FILES,
            produce,
            version=version,
            language=language,
            negotiated=True,
        )

    async def _with_checksums(
        self,
        ask: Ask,
        where: Located,
        version: str,
        language: Language,
        listing: list[ToolFile],
    ) -> list[ToolFile]:
        turns = asyncio.Semaphore(CHECKSUM_CONCURRENCY)

        async def complete(item: ToolFile) -> ToolFile:
            if item.checksum is not None and has_sha256([item.checksum]):
                return item
            relative = item.path
            if item.file_type is FileType.PRIMARY_DESCRIPTOR and "://" in (item.path or ""):
                relative = None
            key = self._key(AnswerKind.PLAIN, where, version, language, relative)
            try:
                async with turns:
                    lookup = await self.cache.fetch(
                        key, lambda: self._plain_fill(ask, where, version, language, relative)
                    )
            except NotFound:
                log.info("%s lists %s, which it does not serve: no checksum", where.gid, item.path)
                return item
            digest = Checksum(checksum=lookup.entry.digest, type=SHA256)
            return item.model_copy(update={"checksum": digest})

        return list(await asyncio.gather(*(complete(item) for item in listing)))

    async def zip(self, ask: Ask, where: Located, version: str, language: Language) -> Answer:
        federation = ask.generation.federation

        async def produce() -> Fill:
            archive = await federation.zip(where, version, language)
            headers = {"Content-Disposition": f'attachment; filename="{archive.filename}"'}
            if archive.missing:
                headers[ZIP_MISSING_HEADER] = header_safe(", ".join(archive.missing))
            lifetime = await self._content_lifetime(ask, where, version, False)
            return Fill(archive.body, ZIP_TYPE, lifetime, headers)

        return await self._about(
            ask, where, AnswerKind.ZIP, produce, version=version, language=language, negotiated=True
        )

    async def tests(self, ask: Ask, where: Located, version: str, language: Language) -> Answer:
        federation = ask.generation.federation

        async def produce() -> Fill:
            found, checksummed = await federation.tests(where, version, language)
            lifetime = await self._content_lifetime(ask, where, version, checksummed)
            return _json_fill([w.dump() for w in found], lifetime)

        return await self._about(
            ask, where, AnswerKind.TESTS, produce, version=version, language=language
        )

    async def containerfile(self, ask: Ask, where: Located, version: str) -> Answer:
        federation = ask.generation.federation

        async def produce() -> Fill:
            found, _ = await federation.containerfile(where, version)
            lifetime = await self._content_lifetime(ask, where, version, False)
            return _json_fill([w.dump() for w in found], lifetime)

        return await self._about(ask, where, AnswerKind.CONTAINERFILE, produce, version=version)
