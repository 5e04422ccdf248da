"""Memory in front of Redis in front of the upstreams, without stampedes.

:meth:`TieredCache.fetch` answers from the first tier that has a usable entry:

* **fresh**: served as a hit.
* **past its lifetime, within ``stale_while_revalidate``**: served as stale
  while one background refresh runs.
* **missing or older**: filled from the upstream. Concurrent misses for one key
  share one fill per process (single-flight), and across processes one
  process fills while the others wait for its result in Redis; the fill lock
  has a lease, so a crashed holder blocks nobody for longer than that.
* **the fill fails with an upstream error** and the old entry is within
  ``stale_if_error``: the old entry is served as stale.

Upstream answers that are errors, partial, or fail an integrity check are
never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from ..config import CacheConfig
from ..errors import UpstreamError
from ..store import KeySpace, RedisStore
from .entry import Entry
from .memory import MemoryTier

__all__ = ["CacheStats", "CacheStatus", "Fill", "FillFn", "Lookup", "Tier", "TieredCache"]

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
"""How often a process waiting on another's fill looks for the result."""


class CacheStatus(StrEnum):
    """How an answer was served: the ``X-Cache`` header."""

    HIT = "HIT"
    STALE = "STALE"
    MISS = "MISS"


class Tier(StrEnum):
    """Where an answer came from: the ``X-Cache-Source`` header."""

    MEMORY = "memory"
    REDIS = "redis"
    UPSTREAM = "upstream"


@dataclass(slots=True)
class Fill:
    """What a fill produced: the body to send and how long it stays fresh."""

    body: bytes
    content_type: str
    fresh_for: float
    headers: dict[str, str] = field(default_factory=dict)
    cacheable: bool = True


@dataclass(slots=True)
class Lookup:
    entry: Entry
    status: CacheStatus
    source: Tier


@dataclass(slots=True)
class CacheStats:
    """Counters per outcome and tier, for operators."""

    counts: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    fill_errors: int = 0
    refreshes: int = 0

    def count(self, status: CacheStatus, source: Tier) -> None:
        key = _STATS_KEYS[status, source]
        self.counts[key] = self.counts.get(key, 0) + 1


_STATS_KEYS: Mapping[tuple[CacheStatus, Tier], str] = MappingProxyType(
    {(s, t): f"{s.value.lower()}:{t.value}" for s in CacheStatus for t in Tier}
)
"""The counter name of each outcome and tier (made once: this is counted per request)."""


FillFn = Callable[[], Awaitable[Fill]]


LARGE_BODY = 1024 * 1024
"""Bodies larger than this are hashed off the event loop."""


async def _digest(body: bytes) -> str:
    if len(body) > LARGE_BODY:
        return await asyncio.to_thread(lambda: hashlib.sha256(body).hexdigest())
    return hashlib.sha256(body).hexdigest()


class TieredCache:
    def __init__(self, config: CacheConfig, redis: RedisStore | None) -> None:
        self.config = config
        self.keys = redis.keys if redis is not None else KeySpace(config.key_prefix)
        self.stale_window = max(config.stale_while_revalidate, config.stale_if_error)
        self.memory = MemoryTier(config.memory_entries, config.memory_bytes, self.stale_window)
        self.redis = redis
        self.stats = CacheStats()
        self._inflight: dict[str, asyncio.Task[Entry]] = {}
        self._reads: dict[str, asyncio.Task[Entry | None]] = {}
        """Redis reads under way, by key: concurrent lookups of a key share one read."""
        self._background: set[asyncio.Task[None]] = set()

    async def fetch(self, key: str, fill: FillFn) -> Lookup:
        now = time.time()
        entry, source = self.memory.get(key, now), Tier.MEMORY
        if entry is None and self.redis is not None:
            entry, source = await self._read_once(key), Tier.REDIS
            if entry is not None:
                self.memory.set(key, entry)
        if entry is not None:
            if entry.fresh(now):
                return self._counted(Lookup(entry, CacheStatus.HIT, source))
            if now < entry.usable_until(self.config.stale_while_revalidate):
                self._refresh_in_background(key, fill)
                return self._counted(Lookup(entry, CacheStatus.STALE, source))
        try:
            fresh = await self._single_flight(key, fill)
        except UpstreamError:
            if entry is not None and now < entry.usable_until(self.config.stale_if_error):
                log.info("serving stale %s: upstream failing", key)
                return self._counted(Lookup(entry, CacheStatus.STALE, source))
            raise
        return self._counted(Lookup(fresh, CacheStatus.MISS, Tier.UPSTREAM))

    @property
    def hot_tier(self) -> Tier | None:
        """Where answers made from this cache are checked before they are sent again:
        the in-process tier, else Redis (with ``memory_entries: 0``), else nowhere."""
        if self.memory.max_entries > 0:
            return Tier.MEMORY
        return Tier.REDIS if self.redis is not None else None

    async def redis_holds(self, key: str, entry: Entry) -> bool:
        """Whether Redis still answers ``key`` with ``entry`` (not purged or refreshed
        since), in one read shared by every concurrent question about ``key``. The
        in-process tier is asked directly: ``memory.holds``."""
        if self.redis is None:
            return False
        found = await self._read_once(key)
        return found is not None and (found.digest, found.stored_at) == (
            entry.digest,
            entry.stored_at,
        )

    def _counted(self, lookup: Lookup) -> Lookup:
        self.stats.count(lookup.status, lookup.source)
        return lookup

    async def _read_once(self, key: str) -> Entry | None:
        """The Redis entry of ``key``, read once for every lookup of it meanwhile."""
        task = self._reads.get(key)
        if task is None:
            task = asyncio.ensure_future(self._from_redis(key))
            self._reads[key] = task
            task.add_done_callback(lambda _: self._reads.pop(key, None))
        # Shielded: one client going away must not cancel the read the others await.
        return await asyncio.shield(task)

    async def _from_redis(self, key: str) -> Entry | None:
        assert self.redis is not None
        data = await self.redis.get_answer(key)
        return None if data is None else Entry.unpack(data)

    # -- filling ---------------------------------------------------------------

    async def _single_flight(self, key: str, fill: FillFn) -> Entry:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fill(key, fill))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # Shielded: a client that goes away must not cancel the fill others await.
        return await asyncio.shield(task)

    def _refresh_in_background(self, key: str, fill: FillFn) -> None:
        if key in self._inflight:
            return
        self.stats.refreshes += 1

        async def refresh() -> None:
            with contextlib.suppress(Exception):
                await self._single_flight(key, fill)

        task = asyncio.ensure_future(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fill(self, key: str, fill: FillFn) -> Entry:
        if self.redis is None:
            return await self._fill_and_store(key, fill)
        token = secrets.token_hex(8)
        lease = self.config.lock_lease
        loop = asyncio.get_running_loop()
        give_up = loop.time() + lease
        while True:
            held = await self.redis.acquire_fill_lock(key, token, lease)
            if held is None:  # Redis is failing: fill without coordination
                return await self._fill_and_store(key, fill)
            if held:
                try:
                    # The previous holder may have stored the entry just before releasing.
                    entry = await self._from_redis(key)
                    if entry is not None and entry.fresh(time.time()):
                        self.memory.set(key, entry)
                        return entry
                    return await self._fill_and_store(key, fill)
                finally:
                    await self.redis.release_fill_lock(key, token)
            # Another process is filling: wait for its result, or for its lock to go.
            while loop.time() < give_up:
                await asyncio.sleep(POLL_INTERVAL)
                entry = await self._from_redis(key)
                if entry is not None and entry.fresh(time.time()):
                    self.memory.set(key, entry)
                    return entry
                if not await self.redis.fill_locked(key):
                    break
            else:
                return await self._fill_and_store(key, fill)

    async def _fill_and_store(self, key: str, fill: FillFn) -> Entry:
        self.stats.fills += 1
        try:
            result = await fill()
        except Exception:
            self.stats.fill_errors += 1
            raise
        entry = Entry(
            body=result.body,
            content_type=result.content_type,
            stored_at=time.time(),
            fresh_for=result.fresh_for,
            headers=result.headers,
            digest=await _digest(result.body),
        )
        if result.cacheable and result.fresh_for > 0:
            self.memory.set(key, entry)
            if self.redis is not None:
                await self.redis.set_answer(key, entry.pack(), result.fresh_for + self.stale_window)
        return entry

    # -- operators ---------------------------------------------------------------

    def drop_local(self, upstream: str | None = None, tool: str | None = None) -> int:
        return self.memory.drop(lambda key: self.keys.matches(key, upstream, tool))

    async def close(self) -> None:
        """Stop background refreshes (the Redis store is closed by its owner)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
