"""The merged ``/tools`` listing, paged with opaque cursors.

Each upstream's listing is a *stream*. The merged order interleaves the
streams round-robin: the next tool always comes from the stream that has
given the fewest tools so far, ties going to the upstream listed first in the
configuration. That order depends only on the upstreams' own orders, never on
``limit``, so walking ``next_page`` visits every tool exactly once whatever
page size the client picks.

A page is filled in rounds. Each round works out how many tools every stream
will contribute to the rest of the page and asks all of them concurrently, in
their own paging terms (see the flavors). Tools an upstream could not filter
itself are filtered here, which may take further rounds. All rounds share the
fan-out deadline; an upstream that fails or is late is left out of this page
and picked up again by the next one, since its cursor position did not move.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from ..errors import GatewayError, NotFound, UpstreamBadResponse
from ..trs.models import Tool
from ..upstream import Upstream
from .cursor import Cursor, StreamState, query_digest
from .fanout import fan_out
from .filters import matches

__all__ = ["ListingPage", "list_tools"]

log = logging.getLogger(__name__)

Observer = Callable[[str, dict[str, object]], None]
"""Shown every raw tool an upstream lists (the identity index)."""

MIN_FILTERED_BATCH = 50
"""Tools fetched per request from an upstream whose results the gateway filters."""


@dataclass(slots=True)
class ListingPage:
    """One page of the merged listing: each tool with the upstream it came from."""

    tools: list[tuple[Upstream, Tool]]
    next_cursor: str | None
    errors: dict[str, GatewayError]


@dataclass(slots=True)
class _Stream:
    upstream: Upstream
    order: int
    state: StreamState
    filters: Mapping[str, str]
    observe: Observer | None = None
    fetch_pos: int = 0
    exhausted: bool = False
    failed: GatewayError | None = None
    buffer: deque[tuple[int, Tool]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.fetch_pos = self.state.pos
        self.exhausted = self.state.done

    @property
    def live(self) -> bool:
        return bool(self.buffer) or not (self.exhausted or self.failed)

    async def fill(self, need: int) -> None:
        """Fetch until ``need`` matching tools are buffered or the listing ends."""
        locally_filtered = any(k not in self.upstream.native for k in self.filters)
        while len(self.buffer) < need and not self.exhausted:
            count = need - len(self.buffer)
            if locally_filtered:
                count = max(count, MIN_FILTERED_BATCH)
            try:
                page = await self.upstream.list_tools(self.filters, self.fetch_pos, count)
            except NotFound as exc:
                raise UpstreamBadResponse(
                    self.upstream.name, f"its /tools answered not found ({exc.message})"
                ) from None
            for offset, raw in enumerate(page.items):
                if self.observe is not None:
                    self.observe(self.upstream.name, raw)
                tool = _parse(self.upstream, raw)
                if tool is not None and matches(tool, self.filters):
                    self.buffer.append((self.fetch_pos + offset, tool))
            self.fetch_pos += len(page.items)
            if page.exhausted or not page.items:
                self.exhausted = True

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
    supply = {
        s.order: len(s.buffer) if (s.exhausted or s.failed) else slots + len(s.buffer)
        for s in streams
    }
    shares = dict.fromkeys(counts, 0)
    for _ in range(slots):
        candidates = [o for o in counts if shares[o] < supply[o]]
        if not candidates:
            break
        pick = min(candidates, key=lambda o: (counts[o], o))
        counts[pick] += 1
        shares[pick] += 1
    return shares


async def list_tools(
    upstreams: Sequence[Upstream],
    filters: Mapping[str, str],
    limit: int,
    offset: str | None,
    deadline: float,
    key: bytes,
    observe: Observer | None = None,
) -> ListingPage:
    """One page of the merged listing of ``upstreams`` (already selected, in order)."""
    names = [u.name for u in upstreams]
    digest = query_digest(filters, names)
    states = Cursor.positions(offset, key, digest, names)
    streams = [
        _Stream(upstream, order, states[upstream.name], filters, observe)
        for order, upstream in enumerate(upstreams)
    ]
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    picked: list[tuple[Upstream, Tool]] = []
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
        shares = _shares(streams, limit - len(picked))
        refill = {
            s.upstream.name: s.fill(shares[s.order])
            for s in streams
            if not (s.exhausted or s.failed) and shares[s.order] > len(s.buffer)
        }
        outcome = await fan_out(refill, stop_at - loop.time())
        for name, error in outcome.errors.items():
            next(s for s in streams if s.upstream.name == name).failed = error
    errors = {s.upstream.name: s.failed for s in streams if s.failed is not None}
    final = {s.upstream.name: s.final_state() for s in streams}
    more = picked and not all(state.done for state in final.values())
    next_cursor = Cursor(digest, final).encode(key) if more else None
    return ListingPage(picked, next_cursor, errors)
