"""The merged ``/tools`` listing, paged with opaque cursors.

Each upstream's listing is a *stream*. The merged order interleaves the
streams round-robin: the next tool always comes from the stream that has
given the fewest tools so far, ties going to the upstream listed first in the
configuration. That order depends only on the upstreams' own orders, never on
``limit``, so walking ``next_page`` visits every tool exactly once whatever
page size the client picks.

A page is filled by picking tools in that order. Every stream is asked at once
for the share of the page it will give if all keep up, each in its own paging
terms (see the flavors), and each stream fetches on its own: a fast upstream
never waits for a slow one's round. Tools an upstream could not filter itself
are filtered here, which may take further requests.

All requests share the fan-out deadline (``federation.deadline``):

* when the stream whose turn it is has not answered after a quarter of the
  deadline, the streams that did answer are asked for the rest of the page, so
  a hung upstream costs a complete page nothing but its own tools;
* a request is started only if the time left exceeds what that upstream took
  for its last answer in this page; a stream that had no time to be asked
  again simply stops where it is, unnamed;
* an upstream is named as missing (``X-TRS-Gateway-Missing``) only when it
  failed, or when the page waited for it until the deadline; requests still
  running for answers the page no longer needs are dropped without counting
  against their upstream.

A stream left out of a page keeps its cursor position, so the next page picks
it up where it stopped.

Read-ahead (:class:`ReadAhead`): each upstream is asked for a whole page
(``limit`` tools), not only its share, and the tools a page did not use are
kept for a short while by where they start; the next page of the walk begins
with them instead of a request. Once a client is walking (it sent a cursor),
an upstream whose kept tools will not last two more pages is asked for its
next tools in the background, so a walk waits on each upstream about as often
as walking that upstream alone would. Tools fetched in the background are
looked at (parsed, shown to the identity index, filtered) only when a page
takes them: a page waiting for its own tools does not also wait for the work
on tools the pages after it will use.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from pydantic import ValidationError

from ..errors import GatewayError, NotFound, UpstreamBadResponse, UpstreamTimeout
from ..trs.models import Tool
from ..upstream import UNNEEDED, Upstream
from .cursor import Cursor, StreamState, query_digest
from .filters import matches

__all__ = ["ListingPage", "ReadAhead", "list_tools"]

log = logging.getLogger(__name__)

Observer = Callable[[str, dict[str, object]], None]
"""Shown every raw tool an upstream lists (the identity index)."""

MIN_FILTERED_BATCH = 50
"""Tools fetched per request from an upstream whose results the gateway filters."""
SPECULATE_AFTER = 0.25
"""Fraction of the deadline after which the streams that answered are asked for the
rest of the page while the one whose turn it is is still awaited."""
MIN_REQUEST_TIME = 0.05
"""Least time left for starting a request to an upstream not yet timed in this page."""
READ_AHEAD_TOOLS = 50_000
"""Tools fetched ahead that one process keeps, over all walks."""
READ_AHEAD_SECONDS = 60.0
"""How long tools fetched ahead stay usable: a walk's next page comes well within it."""
READ_AHEAD_REQUESTS = 16
"""Background requests for walks' next tools under way at once, at most."""
READ_AHEAD_DEPTH = 2
"""Requests a walk keeps ahead of each upstream: the next one is already under way
while the page after next is being fetched, so pages rarely wait."""


@dataclass(slots=True)
class ListingPage:
    """One page of the merged listing: each tool with the upstream it came from."""

    tools: list[tuple[Upstream, Tool]]
    next_cursor: str | None
    errors: dict[str, GatewayError]


@dataclass(slots=True)
class _Chunk:
    """Consecutive tools of one upstream's listing (those matching the filters), from
    some position to ``end``, and whether the listing ends there."""

    tools: list[tuple[int, Tool]]
    end: int
    exhausted: bool
    raw: list[dict[str, Any]] | None = None
    """Tools fetched ahead, not looked at yet: parsed, shown to the identity index and
    filtered only when a page takes them (:meth:`ready`), so the work is done when it
    is needed and not while a page waits for the request ahead of them."""

    @property
    def size(self) -> int:
        return len(self.tools) + len(self.raw or ()) + 1

    def ready(self, stream: _Stream, start: int) -> _Chunk:
        """This chunk, its raw tools (if any) made tools of ``stream``, from ``start``."""
        if self.raw is not None:
            self.tools = _tools_of(stream.upstream, stream.filters, stream.observe, start, self.raw)
            self.raw = None
        return self


ChunkKey = tuple[str, str, int]
"""Upstream, query digest, position of the chunk's first tool."""


class ReadAhead:
    """Tools fetched beyond what a page used, and fetches started for the next page,
    by where they start. One per federation; bounded in tools, requests and time."""

    def __init__(self, tools: int = READ_AHEAD_TOOLS, seconds: float = READ_AHEAD_SECONDS) -> None:
        self._kept: TTLCache[ChunkKey, _Chunk] = TTLCache(
            maxsize=tools, ttl=seconds, getsizeof=lambda chunk: chunk.size
        )
        self._fetching: dict[ChunkKey, asyncio.Task[_Chunk]] = {}

    def keep(self, key: ChunkKey, chunk: _Chunk) -> None:
        if chunk.size <= self._kept.maxsize:
            self._kept[key] = chunk

    def take(self, key: ChunkKey) -> _Chunk | asyncio.Task[_Chunk] | None:
        """The chunk starting at ``key`` (or its fetch under way), given up by the store."""
        return self._kept.pop(key, None) or self._fetching.pop(key, None)

    def fetch(self, key: ChunkKey, fetch: Callable[[], Coroutine[Any, Any, _Chunk]]) -> None:
        """Start fetching the chunk at ``key`` in the background, unless it is kept,
        already under way, or too many fetches are."""
        if key in self._kept or key in self._fetching or len(self._fetching) >= READ_AHEAD_REQUESTS:
            return
        task = asyncio.ensure_future(fetch())
        self._fetching[key] = task

        def done(finished: asyncio.Task[_Chunk]) -> None:
            if self._fetching.get(key) is finished:
                del self._fetching[key]
                if not finished.cancelled() and finished.exception() is None:
                    self.keep(key, finished.result())
            elif not finished.cancelled():
                finished.exception()  # retrieved: a taker reads it, or no one needs it

        task.add_done_callback(done)

    async def close(self) -> None:
        tasks = list(self._fetching.values())
        self._fetching.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._kept.clear()


async def _fetch_chunk(
    upstream: Upstream,
    filters: Mapping[str, str],
    observe: Observer | None,
    start: int,
    count: int,
    enough: int | None = None,
    *,
    ahead: bool = False,
) -> _Chunk:
    """``count`` tools of ``upstream``'s listing from position ``start`` (or, if the
    upstream answers in shorter pages, at least ``enough``); fetched ``ahead`` of need,
    left raw until a page takes them."""
    try:
        page = await upstream.list_tools(filters, start, count, enough)
    except NotFound as exc:
        raise UpstreamBadResponse(
            upstream.name, f"its /tools answered not found ({exc.message})"
        ) from None
    end = start + len(page.items)
    exhausted = page.exhausted or not page.items
    if ahead:
        return _Chunk([], end, exhausted, raw=page.items)
    return _Chunk(_tools_of(upstream, filters, observe, start, page.items), end, exhausted)


def _tools_of(
    upstream: Upstream,
    filters: Mapping[str, str],
    observe: Observer | None,
    start: int,
    items: list[dict[str, Any]],
) -> list[tuple[int, Tool]]:
    """The tools among ``items`` (listed from position ``start``) that are valid and match
    ``filters``, each with its position; every item is shown to ``observe``."""
    tools = []
    for offset, raw in enumerate(items):
        if observe is not None:
            observe(upstream.name, raw)
        tool = _parse(upstream, raw)
        if tool is not None and (not filters or matches(tool, filters)):
            tools.append((start + offset, tool))
    return tools


@dataclass(slots=True)
class _Stream:
    upstream: Upstream
    order: int
    state: StreamState
    filters: Mapping[str, str]
    digest: str
    batch: int
    """Tools asked for per request: a whole page, so the next page starts with the rest."""
    ahead: ReadAhead
    observe: Observer | None = None
    fetch_pos: int = 0
    exhausted: bool = False
    failed: GatewayError | None = None
    stalled: bool = False
    """No time was left to ask it again: it stops where it is, unnamed."""
    latency: float = 0.0
    """How long its last request in this page took."""
    buffer: deque[tuple[int, Tool]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.fetch_pos = self.state.pos
        self.exhausted = self.state.done

    @property
    def live(self) -> bool:
        return bool(self.buffer) or not (self.exhausted or self.failed or self.stalled)

    @property
    def can_fetch(self) -> bool:
        return not (self.exhausted or self.failed or self.stalled)

    def key(self, position: int) -> ChunkKey:
        return (self.upstream.name, self.digest, position)

    async def fill(self, need: int, stop_at: float) -> None:
        """Fetch until ``need`` matching tools are buffered, the listing ends, or no
        request could finish before ``stop_at``."""
        loop = asyncio.get_running_loop()
        locally_filtered = any(k not in self.upstream.native for k in self.filters)
        while len(self.buffer) < need and not self.exhausted:
            kept = self.ahead.take(self.key(self.fetch_pos))
            if isinstance(kept, _Chunk):
                chunk = kept.ready(self, self.fetch_pos)
            elif kept is not None:  # shielded: giving up on this page must not waste it
                chunk = (await asyncio.shield(kept)).ready(self, self.fetch_pos)
            else:
                if loop.time() + max(self.latency, MIN_REQUEST_TIME) > stop_at:
                    self.stalled = True
                    return
                short = need - len(self.buffer)
                if locally_filtered:  # how many to ask for to find ``short`` is unknown
                    count, enough = max(short, MIN_FILTERED_BATCH), None
                else:  # a whole page in one request; no more requests than the page needs
                    count, enough = max(short, self.batch), short
                started = loop.time()
                chunk = await _fetch_chunk(
                    self.upstream, self.filters, self.observe, self.fetch_pos, count, enough
                )
                self.latency = loop.time() - started
            self.buffer.extend(chunk.tools)
            self.fetch_pos = chunk.end
            self.exhausted = chunk.exhausted

    def read_ahead(self, walking: bool, share: int) -> None:
        """Keep what this page did not use; when ``walking``, start fetching what the
        next pages will need (:data:`READ_AHEAD_DEPTH` requests ahead) unless the kept
        tools cover two more shares. (A request fetched ahead that the upstream answers
        short is simply not used: the next page asks again from where it ended.)"""
        if self.failed is not None:
            return
        if self.buffer:
            chunk = _Chunk(list(self.buffer), self.fetch_pos, self.exhausted)
            self.ahead.keep(self.key(self.buffer[0][0]), chunk)
        if walking and not (self.exhausted or self.stalled) and len(self.buffer) < 2 * share:
            for depth in range(READ_AHEAD_DEPTH):
                start = self.fetch_pos + depth * self.batch
                self.ahead.fetch(self.key(start), self._fetcher(start))

    def _fetcher(self, start: int) -> Callable[[], Coroutine[Any, Any, _Chunk]]:
        upstream, filters, observe, count = self.upstream, self.filters, self.observe, self.batch
        return lambda: _fetch_chunk(upstream, filters, observe, start, count, ahead=True)

    def final_state(self) -> StreamState:
        if self.buffer:
            return StreamState(self.buffer[0][0], self.state.n, False)
        return StreamState(self.fetch_pos, self.state.n, self.exhausted)


def _parse(upstream: Upstream, raw: dict[str, object]) -> Tool | None:
    try:
        return Tool.model_validate(raw)
    except ValidationError as exc:
        log.warning("upstream %s listed an unusable tool: %s", upstream.name, exc.errors()[:1])
        return None


def _shares(streams: Sequence[_Stream], slots: int) -> dict[int, int]:
    """How many of the next ``slots`` picks each stream gets if it keeps up."""
    counts = {s.order: s.state.n for s in streams}
    supply = {s.order: slots + len(s.buffer) if s.can_fetch else len(s.buffer) for s in streams}
    shares = dict.fromkeys(counts, 0)
    for _ in range(slots):
        candidates = [o for o in counts if shares[o] < supply[o]]
        if not candidates:
            break
        pick = min(candidates, key=lambda o: (counts[o], o))
        counts[pick] += 1
        shares[pick] += 1
    return shares


class _Fetches:
    """The fill requests of one page, one task per stream at most."""

    def __init__(self, stop_at: float) -> None:
        self.stop_at = stop_at
        self.tasks: dict[int, tuple[_Stream, asyncio.Task[None]]] = {}

    def start(self, stream: _Stream, need: int) -> None:
        if stream.order in self.tasks or not stream.can_fetch or len(stream.buffer) >= need:
            return
        task = asyncio.ensure_future(stream.fill(need, self.stop_at))
        self.tasks[stream.order] = (stream, task)

    def running(self, stream: _Stream) -> asyncio.Task[None] | None:
        entry = self.tasks.get(stream.order)
        return None if entry is None else entry[1]

    async def wait_any(self, until: float) -> None:
        """Wait until some fetch ends (or loop time ``until``), and take in what ended."""
        tasks = [task for _, task in self.tasks.values()]
        if tasks:
            timeout = max(until - asyncio.get_running_loop().time(), 0.0)
            await asyncio.wait(tasks, timeout=timeout, return_when=FIRST_COMPLETED)
        self.collect()

    def collect(self) -> None:
        for order, (stream, task) in list(self.tasks.items()):
            if not task.done():
                continue
            del self.tasks[order]
            exc = task.exception()
            if isinstance(exc, GatewayError):
                stream.failed = exc
            elif exc is not None:
                log.error("unexpected error listing %s", stream.upstream.name, exc_info=exc)
                stream.failed = UpstreamBadResponse(
                    stream.upstream.name, f"internal error: {type(exc).__name__}"
                )

    async def give_up(self, stream: _Stream, deadline: float) -> None:
        """The page waited for ``stream`` until the deadline: it is late."""
        entry = self.tasks.pop(stream.order, None)
        if entry is not None:
            entry[1].cancel()
            await asyncio.gather(entry[1], return_exceptions=True)
        stream.failed = UpstreamTimeout(
            stream.upstream.name, f"no answer within the {deadline:g}s deadline"
        )

    async def drop_the_rest(self) -> None:
        """Cancel requests whose answers the page no longer needs (not their fault)."""
        tasks = [task for _, task in self.tasks.values()]
        self.tasks.clear()
        for task in tasks:
            task.cancel(UNNEEDED)
        await asyncio.gather(*tasks, return_exceptions=True)


async def list_tools(
    upstreams: Sequence[Upstream],
    filters: Mapping[str, str],
    limit: int,
    offset: str | None,
    deadline: float,
    key: bytes,
    ahead: ReadAhead,
    observe: Observer | None = None,
) -> ListingPage:
    """One page of the merged listing of ``upstreams`` (already selected, in order)."""
    names = [u.name for u in upstreams]
    digest = query_digest(filters, names)
    states = Cursor.positions(offset, key, digest, names)
    streams = [
        _Stream(upstream, order, states[upstream.name], filters, digest, limit, ahead, observe)
        for order, upstream in enumerate(upstreams)
    ]
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop_at = started + deadline
    speculate_at = started + deadline * SPECULATE_AFTER
    fetches = _Fetches(stop_at)
    picked: list[tuple[Upstream, Tool]] = []
    try:
        while len(picked) < limit:
            live = [s for s in streams if s.live]
            if not live:
                break
            stream = min(live, key=lambda s: (s.state.n, s.order))
            if stream.buffer:
                _, tool = stream.buffer.popleft()
                stream.state.n += 1
                picked.append((stream.upstream, tool))
                continue
            slots = limit - len(picked)
            shares = _shares(streams, slots)
            for other in streams:
                fetches.start(other, shares[other.order])
            fetches.start(stream, max(shares[stream.order], 1))
            while (task := fetches.running(stream)) is not None and not task.done():
                now = loop.time()
                if now >= stop_at:
                    await fetches.give_up(stream, deadline)
                    break
                if now >= speculate_at:
                    for other in streams:
                        if other is not stream:
                            fetches.start(other, slots)
                await fetches.wait_any(speculate_at if now < speculate_at else stop_at)
            fetches.collect()
            if not stream.buffer and stream.can_fetch and fetches.running(stream) is None:
                stream.stalled = True  # it answered, but no time is left to ask it again
    finally:
        await fetches.drop_the_rest()
    share = -(-limit // max(1, len(streams)))
    for stream in streams:
        stream.read_ahead(offset is not None, share)
    errors = {s.upstream.name: s.failed for s in streams if s.failed is not None}
    final = {s.upstream.name: s.final_state() for s in streams}
    more = picked and not all(state.done for state in final.values())
    next_cursor = Cursor(digest, final).encode(key) if more else None
    return ListingPage(picked, next_cursor, errors)
