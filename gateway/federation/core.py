"""The federation: every upstream behind one set of TRS operations.

A request first resolves the tool it names, once (:meth:`Federation.locate`
turns a gateway id, an un-namespaced id or an alias into a :class:`Located`
tool), and every operation about one tool then takes that :class:`Located`: it
works out which version segment the upstream understands, and asks it.
Operations that span upstreams (``/tools``, ``/toolClasses``, looking up an id
without a namespace) fan out within ``federation.deadline``.

``GET /tools/{X}`` with an ``X`` that is not namespaced is resolved in this order:

1. ``X`` is the exact id of tools the identity index knows: the one of the
   upstream listed first in the configuration;
2. otherwise every upstream is asked for ``X`` at once: the first upstream *in
   configuration order* that has it;
3. otherwise ``X`` is read as an alias in any spelling (a DOI, a repository URL,
   a CURIE, a TRS URL, a crosswalk entry): the matching tools, the upstream
   listed first winning.

The other candidates are returned in :attr:`Located.alternatives`; the handlers
announce them as ``Link: <...>; rel="alternate"`` headers. A resolved id is
remembered for a while so follow-up calls (versions, descriptors) go straight
to its upstream.

Every upstream ``Tool`` the federation reads is shown to the identity index
(:class:`~gateway.identity.Identity`), and every ``/tools?alias=`` query is
answered from it, so tools of upstreams that ignore ``?alias=`` are found too.
"""

from __future__ import annotations

import asyncio
import io
import logging
import posixpath
import zipfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import TTLCache
from pydantic import BaseModel, ValidationError

from .. import USER_AGENT
from ..config import GatewayConfig
from ..errors import (
    GatewayError,
    IndexIncomplete,
    NotFound,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamLookupFailed,
)
from ..ids import LATEST, ToolRef, cwltool_split, gateway_id, split_id
from ..index import Identity
from ..integrity import verify, with_sha256
from ..trs.models import FileType, FileWrapper, Tool, ToolClass, ToolFile, ToolVersion
from ..trs.types import Language
from ..upstream import Upstream, make_upstream
from ..yielding import BATCH, map_yielding
from .cursor import Cursor, query_digest
from .fanout import fan_out
from .filters import matches
from .listing import ListingPage, ReadAhead, list_tools
from .present import (
    Links,
    present_tool,
    present_tool_class,
    present_version,
    present_wrapper,
)

__all__ = ["Federation", "Located", "ZipArchive", "build_federation"]

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

ALIAS_SEARCH_LIMIT = 100
"""Tools asked from an upstream's own alias search (an alias names few tools)."""

ZIP_FETCH_CONCURRENCY = 8
"""Files of one zip fetched at once."""
OFF_LOOP_SIZE = 2000
"""KiB beyond which a zip is packed in a thread."""


@dataclass(frozen=True, slots=True)
class Located:
    """A tool found on one upstream."""

    upstream: Upstream
    tool_id: str
    alternatives: tuple[str, ...] = ()
    """Gateway ids of the other tools an ambiguous id or alias could have meant."""

    @property
    def gid(self) -> str:
        return gateway_id(self.upstream.name, self.tool_id)


@dataclass(frozen=True, slots=True)
class ZipArchive:
    body: bytes
    filename: str
    missing: list[str]


class Federation:
    """All upstreams of one configuration, in configuration order.

    Built per configuration (a reload builds a new one); the identity index it
    consults belongs to the application and outlives it.
    """

    def __init__(
        self,
        config: GatewayConfig,
        upstreams: Sequence[Upstream],
        identity: Identity,
    ) -> None:
        self.config = config
        self.upstreams = list(upstreams)
        self.by_name = {u.name: u for u in self.upstreams}
        self.deadline = config.federation.deadline
        self.cursor_key = config.cursor_key()
        self.identity = identity
        self._owners: TTLCache[str, Located] = TTLCache(maxsize=10000, ttl=600)
        self.read_ahead = ReadAhead()
        """Listing tools fetched ahead for walks (see :mod:`gateway.federation.listing`)."""

    async def close(self) -> None:
        """Stop fetching ahead; close every upstream's connections."""
        await self.read_ahead.close()
        await asyncio.gather(*(u.close() for u in self.upstreams), return_exceptions=True)

    # -- finding tools -----------------------------------------------------

    def parse_id(self, value: str) -> ToolRef:
        return split_id(value, self.by_name)

    async def locate_version(self, value: str, version: str) -> tuple[Located, str]:
        """The tool ``value`` names and the version ``version`` names, as :meth:`locate`
        does, but undoing cwltool's split of ``{upstream}:{id}:{version}`` into tool
        ``{upstream}`` and version ``{id}:{version}`` (see :func:`~gateway.ids.cwltool_split`).
        A tool whose own id is an upstream's name is still found when no split tool exists.
        """
        split = cwltool_split(value, version, self.by_name)
        if split is not None:
            gid, named = split
            try:
                return await self.locate(gid), named
            except NotFound:
                pass
        return await self.locate(value), version

    async def locate(self, value: str) -> Located:
        """The upstream holding the tool ``value`` names (see the module docstring)."""
        ref = self.parse_id(value)
        if ref.upstream is not None:
            return Located(self.by_name[ref.upstream], ref.tool_id)
        remembered = self._owners.get(ref.tool_id)
        if remembered is not None:
            return remembered
        found = self._known(self.identity.holders(ref.tool_id), ref.tool_id)
        failures: list[UpstreamError] = []
        if found is None:
            found, failures = await self._ask_everyone(ref.tool_id)
        failures_by_name = {e.upstream for e in failures}
        if found is None:
            found = self._known(self.identity.resolve(value), None)
        if found is None:
            hint = f"namespace it as <upstream>:<id> with one of {sorted(self.by_name)}"
            if failures:
                # Not found where we could look, but some upstream could not answer.
                said = "; ".join(f"{e.upstream}: {e.reason.value}" for e in failures)
                others = [u.name for u in self.upstreams if u.name not in failures_by_name]
                raise UpstreamLookupFailed(
                    failures,
                    f"no answering upstream has a tool {ref.tool_id!r}"
                    + (f" ({', '.join(others)} said not found)" if others else "")
                    + f"; could not ask {said}; {hint}",
                )
            raise NotFound(
                f"no upstream has a tool {ref.tool_id!r} and no known tool has it as an alias; "
                + hint
            )
        self._owners[ref.tool_id] = found
        return found

    def _known(self, gids: Sequence[str], tool_id: str | None) -> Located | None:
        """The first of ``gids`` (in order) on a configured upstream, the rest as alternatives."""
        usable = [g for g in gids if g.partition(":")[0] in self.by_name]
        if not usable:
            return None
        upstream, _, found_id = usable[0].partition(":")
        return Located(self.by_name[upstream], tool_id or found_id, tuple(usable[1:]))

    async def _ask_everyone(self, tool_id: str) -> tuple[Located | None, list[UpstreamError]]:
        """The upstreams holding ``tool_id``, and the errors of those that could not say."""
        outcome = await fan_out(
            {u.name: u.get_tool(tool_id) for u in self.upstreams}, self.deadline
        )
        for name, raw in outcome.results.items():
            self.identity.observe(name, {**raw, "id": tool_id})
        holders = [gateway_id(u.name, tool_id) for u in self.upstreams if u.name in outcome.results]
        failures = [e for e in outcome.errors.values() if isinstance(e, UpstreamError)]
        return self._known(holders, tool_id), failures

    async def tool(self, where: Located, links: Links) -> Tool:
        raw = await where.upstream.get_tool(where.tool_id)
        # Some upstreams answer for a tool under another spelling of its id.
        raw = {**raw, "id": where.tool_id}
        upstream, name = where.upstream, where.upstream.name
        raw_versions = raw.get("versions")
        if not isinstance(raw_versions, list) or len(raw_versions) <= BATCH:
            tool = self._validate(upstream, Tool, raw, f"tool {where.tool_id!r}")
            self.identity.observe(name, raw)
            return present_tool(upstream, tool, links)
        # A very large tool: its versions are checked in batches, its keys in a thread.
        keys = asyncio.ensure_future(
            asyncio.to_thread(self.identity.keys_of_tool, name, raw, remember=False)
        )
        head = self._validate(upstream, Tool, {**raw, "versions": []}, f"tool {where.tool_id!r}")

        def version(item: Any) -> ToolVersion:
            parsed = self._validate(upstream, ToolVersion, item, f"a version of {where.tool_id!r}")
            return present_version(upstream, where.tool_id, parsed, links)

        versions = await map_yielding(version, raw_versions)
        found = await keys
        if found is not None:
            self.identity.record(where.gid, found)
        return present_tool(upstream, head, links).model_copy(update={"versions": versions})

    # -- versions ----------------------------------------------------------

    async def versions(self, where: Located, links: Links) -> list[ToolVersion]:
        raw = await where.upstream.get_versions(where.tool_id)

        def present(item: Any) -> ToolVersion | None:
            parsed = self._valid_item(where.upstream, ToolVersion, item)
            return (
                None
                if parsed is None
                else present_version(where.upstream, where.tool_id, parsed, links)
            )

        return await map_yielding(present, raw)

    async def version(self, where: Located, version: str, links: Links) -> ToolVersion:
        raw = await self._with_version(
            where, version, lambda seg: where.upstream.get_version(where.tool_id, seg)
        )
        parsed = self._validate(where.upstream, ToolVersion, raw, f"version {version!r}")
        return present_version(where.upstream, where.tool_id, parsed, links)

    async def _with_version(
        self, where: Located, version: str, call: Callable[[str], Awaitable[T]]
    ) -> T:
        """Run ``call`` with the version segment the upstream understands.

        Clients name versions by ``name`` (Toil), by ``id`` (WfExS, Galaxy for
        WorkflowHub), by Dockstore's ``tool:name`` id, by the gateway's
        namespaced form of it, or as ``latest`` (cwltool). The segment is tried
        as given first, which is right almost always; only on a miss are the
        versions listed and matched.
        """
        try:
            return await call(version)
        except NotFound:
            segment = await self._match_version(where, version)
            if segment is None or segment == version:
                raise
            return await call(segment)

    async def _match_version(self, where: Located, version: str) -> str | None:
        raw = await where.upstream.get_versions(where.tool_id)
        versions = await map_yielding(
            lambda item: self._valid_item(where.upstream, ToolVersion, item), raw
        )
        wanted = {version, gateway_id(where.upstream.name, version)}
        prefix = f"{where.upstream.name}:"
        if version.startswith(prefix):
            wanted.add(version[len(prefix) :])
        for candidate in versions:
            if candidate.name in wanted or candidate.id in wanted:
                return where.upstream.version_segment(candidate.model_dump())
        if version == LATEST and versions:
            return where.upstream.version_segment(_latest(versions).model_dump())
        names = ", ".join(repr(v.name or v.id) for v in versions[:20])
        raise NotFound(
            f"tool {where.gid!r} has no version {version!r}"
            + (f"; it has {names}" if names else "; it has no versions")
        )

    # -- files -------------------------------------------------------------

    async def descriptor(
        self, where: Located, version: str, language: Language, relative: str | None, links: Links
    ) -> tuple[FileWrapper, bool]:
        """The descriptor's ``FileWrapper``, with its content (fetched raw when the
        upstream's wrapper has none) and a ``sha-256`` checksum (computed when the
        upstream gives none); and whether the upstream's own checksum vouched for it."""

        async def fetch(segment: str) -> tuple[FileWrapper, bytes, bool]:
            return await self._wrapper_and_content(where, segment, language, relative, "descriptor")

        wrapper, content, checked = await self._with_version(where, version, fetch)
        if wrapper.content is None:
            wrapper = wrapper.model_copy(update={"content": content.decode("utf-8", "replace")})
        url = links.plain_descriptor(where.gid, version, language, relative)
        return present_wrapper(with_sha256(wrapper, content), url), checked

    async def plain_descriptor(
        self, where: Located, version: str, language: Language, relative: str | None
    ) -> tuple[bytes, bool]:
        """The raw descriptor file, and whether a checksum vouched for it."""

        async def fetch(segment: str) -> tuple[bytes, bool]:
            return await self._file_content(where, segment, language, relative, "descriptor")

        return await self._with_version(where, version, fetch)

    async def _file_content(
        self, where: Located, segment: str, language: Language, relative: str | None, what: str
    ) -> tuple[bytes, bool]:
        """A file's bytes, checked against the checksums its wrapper carries.

        The wrapper's ``content`` when it has one, else the upstream's raw file.
        """
        _, content, checked = await self._wrapper_and_content(
            where, segment, language, relative, what
        )
        return content, checked

    async def _wrapper_and_content(
        self, where: Located, segment: str, language: Language, relative: str | None, what: str
    ) -> tuple[FileWrapper, bytes, bool]:
        """A file's wrapper and bytes, checked against the checksums the wrapper carries,
        and whether any did."""
        upstream = where.upstream
        raw = await upstream.get_descriptor(where.tool_id, segment, language, relative)
        wrapper = self._validate(upstream, FileWrapper, raw, what)
        if wrapper.content is not None:
            content = wrapper.content.encode()
        else:
            content = await upstream.get_plain_descriptor(
                where.tool_id, segment, language, relative
            )
        return wrapper, content, verify(upstream.name, what, content, wrapper.checksum)

    async def files(self, where: Located, version: str, language: Language) -> list[ToolFile]:
        raw = await self._with_version(
            where, version, lambda seg: where.upstream.get_files(where.tool_id, seg, language)
        )
        return await map_yielding(
            lambda item: self._valid_item(where.upstream, ToolFile, item), raw
        )

    async def tests(
        self, where: Located, version: str, language: Language
    ) -> tuple[list[FileWrapper], bool]:
        """The test files, each with a ``sha-256`` checksum; and whether the upstream
        gave every one a checksum of its own."""
        raw = await self._with_version(
            where, version, lambda seg: where.upstream.get_tests(where.tool_id, seg, language)
        )
        return _checksummed(self._validate_list(where.upstream, FileWrapper, raw))

    async def containerfile(self, where: Located, version: str) -> tuple[list[FileWrapper], bool]:
        """As :meth:`tests`, for the containerfiles."""
        raw = await self._with_version(
            where, version, lambda seg: where.upstream.get_containerfile(where.tool_id, seg)
        )
        return _checksummed(self._validate_list(where.upstream, FileWrapper, raw))

    async def zip(self, where: Located, version: str, language: Language) -> ZipArchive:
        """A zip of the version's files: the upstream's own, or built from its files."""
        filename = _zip_name(where.tool_id, version, language)

        async def fetch(segment: str) -> ZipArchive:
            body = await where.upstream.get_zip(where.tool_id, segment, language)
            if body is not None:
                return ZipArchive(body, filename, [])
            return await self._build_zip(where, segment, language, filename)

        return await self._with_version(where, version, fetch)

    async def _build_zip(
        self, where: Located, segment: str, language: Language, filename: str
    ) -> ZipArchive:
        """A zip of the files the upstream lists: at most ``federation.max_zip_files``
        files and ``federation.max_zip_bytes`` bytes, fetched a few at a time."""
        upstream = where.upstream
        limits = self.config.federation
        raw = await upstream.get_files(where.tool_id, segment, language)
        if len(raw) > limits.max_zip_files:
            raise UpstreamBadResponse(
                upstream.name,
                f"lists {len(raw)} files, more than the {limits.max_zip_files} "
                "the gateway puts in one zip",
            )
        listing = self._validate_list(upstream, ToolFile, raw)
        entries: list[tuple[ToolFile, str]] = []
        for item in listing:
            name = _zip_entry_name(item.path or "")
            if name is None:
                raise UpstreamBadResponse(upstream.name, f"file path {item.path!r} is unsafe")
            entries.append((item, name))
        turns = asyncio.Semaphore(ZIP_FETCH_CONCURRENCY)
        total = 0

        async def content(item: ToolFile) -> bytes:
            nonlocal total
            if item.file_type is FileType.PRIMARY_DESCRIPTOR:
                relative = None if _is_url(item.path) else item.path
            else:
                relative = item.path
            async with turns:
                data, _ = await self._file_content(
                    where, segment, language, relative, f"file {item.path!r}"
                )
            if item.checksum is not None:
                verify(upstream.name, f"file {item.path!r}", data, [item.checksum])
            total += len(data)
            if total > limits.max_zip_bytes:
                raise UpstreamBadResponse(
                    upstream.name,
                    f"its files hold more than the {limits.max_zip_bytes} bytes "
                    "the gateway puts in one zip",
                )
            return data

        tasks = [asyncio.ensure_future(content(item)) for item, _ in entries]
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
        missing: list[str] = []
        files: list[tuple[str, bytes]] = []
        for (item, name), result in zip(entries, results, strict=True):
            if isinstance(result, bytes):
                files.append((name, result))
            elif isinstance(result, NotFound) and item.file_type is not FileType.PRIMARY_DESCRIPTOR:
                missing.append(item.path or name)
            elif isinstance(result, BaseException):
                raise result
        body = await off_loop(total // 1024, lambda: _zip_files(files))
        return ZipArchive(body, filename, missing)

    # -- across upstreams --------------------------------------------------

    def select(self, filters: dict[str, str]) -> tuple[list[Upstream], dict[str, str]]:
        """The upstreams a listing asks, and the filters as they see them."""
        if "id" in filters:
            ref = self.parse_id(filters["id"])
            if ref.upstream is not None:
                return [self.by_name[ref.upstream]], {**filters, "id": ref.tool_id}
        return list(self.upstreams), filters

    async def list_tools(
        self, filters: Mapping[str, str], limit: int, offset: str | None
    ) -> ListingPage:
        """One page of the merged listing; ``filters`` come from :func:`parse_filters`."""
        upstreams, filters = self.select(dict(filters))
        if "alias" in filters:
            return await self._list_by_alias(upstreams, filters, limit, offset)
        return await list_tools(
            upstreams,
            filters,
            limit,
            offset,
            self.deadline,
            self.cursor_key,
            self.read_ahead,
            observe=self.identity.observe,
        )

    async def _list_by_alias(
        self, upstreams: Sequence[Upstream], filters: dict[str, str], limit: int, offset: str | None
    ) -> ListingPage:
        """``/tools?alias=X``: every tool that ``X`` names in any spelling, with its twins.

        Upstreams that search aliases themselves are asked too (they may hold
        tools not harvested yet); the others are answered from the identity
        index. The other filters are then applied to each tool. The answer is
        ordered by upstream (configuration order), then by id; the cursor keeps
        how many tools of each upstream were already returned.
        """
        alias = filters["alias"]
        others = {k: v for k, v in filters.items() if k != "alias"}
        names = [u.name for u in upstreams]
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + self.deadline
        searched = await fan_out(
            {
                u.name: u.list_tools({"alias": alias}, 0, ALIAS_SEARCH_LIMIT)
                for u in upstreams
                if "alias" in u.native
            },
            self.deadline,
        )
        raws: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, page in searched.results.items():
            for raw in page.items:
                if isinstance(raw.get("id"), str):
                    self.identity.observe(name, raw)
                    raws[gateway_id(name, raw["id"])] = (name, raw)
        wanted = set(self.identity.resolve(alias))
        for gid in list(raws):
            wanted |= {gid, *self.identity.twins(gid)}
        gids = [g for g in self.identity.sort(wanted) if g.partition(":")[0] in names]
        fetched = await fan_out(
            {
                gid: self.by_name[gid.partition(":")[0]].get_tool(gid.partition(":")[2])
                for gid in gids
                if gid not in raws
            },
            stop_at - loop.time(),
        )
        errors: dict[str, GatewayError] = dict(searched.errors)
        for upstream in upstreams:
            if "alias" not in upstream.native and upstream.name not in self.identity.harvested:
                errors[upstream.name] = IndexIncomplete(
                    upstream.name, "answered from the identity index, whose harvest never completed"
                )
        for gid, error in fetched.errors.items():
            if isinstance(error, NotFound):
                self.identity.forget(gid)
            else:
                errors.setdefault(gid.partition(":")[0], error)
        for gid, raw in fetched.results.items():
            upstream_name, _, tool_id = gid.partition(":")
            raws[gid] = (upstream_name, {**raw, "id": tool_id})
        found: dict[str, list[Tool]] = {name: [] for name in names}
        for gid in gids:
            if gid not in raws:
                continue
            name, raw = raws[gid]
            try:
                tool = Tool.model_validate(raw)
            except ValidationError:
                log.warning("upstream %s sent an unusable tool %s", name, gid)
                continue
            if matches(tool, others):
                found[name].append(tool)
        digest = query_digest(filters, names)
        states = Cursor.positions(offset, self.cursor_key, digest, names)
        picked: list[tuple[Upstream, Tool]] = []
        for name in names:
            state = states[name]
            while len(picked) < limit and state.pos < len(found[name]):
                picked.append((self.by_name[name], found[name][state.pos]))
                state.pos += 1
                state.n += 1
            state.done = state.pos >= len(found[name])
        more = not all(state.done for state in states.values())
        cursor = Cursor(digest, states).encode(self.cursor_key) if more else None
        return ListingPage(picked, cursor, errors)

    async def tool_classes(self) -> tuple[list[ToolClass], dict[str, GatewayError]]:
        """The union of every upstream's tool classes, merged by name."""
        outcome = await fan_out(
            {u.name: u.get_tool_classes() for u in self.upstreams}, self.deadline
        )
        merged: dict[str, ToolClass] = {}
        for upstream in self.upstreams:
            for raw in outcome.results.get(upstream.name, []):
                toolclass = present_tool_class(raw) if isinstance(raw, dict) else None
                if toolclass is not None and toolclass.name:
                    merged.setdefault(toolclass.name.casefold(), toolclass)
        return list(merged.values()), outcome.errors

    # -- validation ----------------------------------------------------------

    def _validate(self, upstream: Upstream, model: type[M], raw: Any, what: str) -> M:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise UpstreamBadResponse(
                upstream.name, f"{what} is not a TRS object: {where}: {first['msg']}"
            ) from None

    def _validate_list(self, upstream: Upstream, model: type[M], raw: list[Any]) -> list[M]:
        valid = (self._valid_item(upstream, model, item) for item in raw)
        return [v for v in valid if v is not None]

    def _valid_item(self, upstream: Upstream, model: type[M], item: Any) -> M | None:
        """``item`` as a ``model``, or ``None`` (logged) when it is unusable."""
        try:
            return model.model_validate(item)
        except ValidationError:
            log.warning("upstream %s sent an unusable %s; skipped", upstream.name, model.__name__)
            return None


def build_federation(config: GatewayConfig, identity: Identity) -> Federation:
    """A federation over ``config``'s upstreams: one client (and HTTP session) each."""
    upstreams = [make_upstream(u, USER_AGENT) for u in config.upstreams]
    return Federation(config, upstreams, identity)


def _checksummed(wrappers: list[FileWrapper]) -> tuple[list[FileWrapper], bool]:
    vouched = bool(wrappers) and all(w.checksum for w in wrappers)
    return [present_wrapper(with_sha256(w), None) for w in wrappers], vouched


def _latest(versions: Sequence[ToolVersion]) -> ToolVersion:
    """What ``latest`` means when no version is called so: the only version; else the
    one updated last (``meta_version``, when every version has a comparable one); else
    the one the upstream lists last (registries list versions oldest first)."""
    if len(versions) == 1:
        return versions[0]
    stamps = [v.meta_version for v in versions]
    if all(stamps) and len({len(s or "") for s in stamps}) == 1:
        return max(versions, key=lambda v: v.meta_version or "")
    return versions[-1]


def _zip_files(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


async def off_loop(size: int, work: Callable[[], T]) -> T:
    """``work()``, in a thread when ``size`` (in KiB) says it may hold the event loop for
    long: for work that lets go of the interpreter lock, like compressing."""
    if size > OFF_LOOP_SIZE:
        return await asyncio.to_thread(work)
    return work()


def _is_url(path: str | None) -> bool:
    return bool(path) and "://" in (path or "")


def _zip_entry_name(path: str) -> str | None:
    """A safe name inside the archive, or ``None`` for a path escaping it."""
    if _is_url(path):
        path = path.rsplit("/", 1)[-1]
    normal = posixpath.normpath("/" + path.replace("\\", "/")).lstrip("/")
    if not normal or normal == "." or normal.startswith(".."):
        return None
    return normal


def _zip_name(tool_id: str, version: str, language: Language) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{tool_id}-{version}")
    return f"{stem.strip('-')}-{language}.zip"
