"""The identity index the gateway consults: filled from answers, shared through Redis.

:class:`Identity` keeps an :class:`~gateway.identity.keys.IdentityIndex` in memory,
so every question about it (twins of a tool, tools an alias names) is answered
without I/O. Every upstream ``Tool`` the gateway sees is *observed*: its identity
keys are computed and, when they changed, stored.

With Redis configured the index is shared by every process and replica:

* ``<prefix>:v1:id:tools`` is a hash of gateway id -> JSON list of keys;
* each change is also appended to the stream ``<prefix>:v1:id:changes``;
* at start a process loads the whole hash, then reads the stream every
  ``SYNC_INTERVAL`` seconds and reloads the ids it names.

Writes are batched: observing only marks the tool dirty in memory, and a
background task writes dirty tools every ``SYNC_INTERVAL``. If Redis fails
the index keeps working in memory and the dirty set waits for Redis to return.
Without Redis the index lives in this process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson

from ..cache import RedisTier
from ..cache.keys import KeySpace
from .keys import IdentityIndex, gw_key, keys_for_tool

__all__ = ["Identity"]

log = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0
"""Seconds between two exchanges with Redis (writing ours, reading others' changes)."""
STREAM_LENGTH = 100_000
"""Changes kept in the stream; a process more than this far behind reloads everything."""
SCAN_COUNT = 1000
INLINE_BUILD_LIMIT = 0.01
"""Seconds a group computation may take on the event loop; slower ones run in a thread."""


class Identity:
    """The identity index of the configured upstreams (``names`` in configuration order)."""

    def __init__(
        self,
        names: Sequence[str],
        crosswalk: Collection[Collection[str]],
        redis: RedisTier | None,
        keys: KeySpace,
    ) -> None:
        self.names = list(names)
        self.order = {name: i for i, name in enumerate(self.names)}
        self.index = IdentityIndex(self.names)
        """The live index, changed by every observation."""
        self.index.replace_groups(crosswalk)
        self._view = self.index.copy()
        self._view.build()
        self._changes = 0
        self._view_changes = 0
        self._build_cost = 0.0
        self._building: asyncio.Task[None] | None = None
        self.redis = redis
        self.keys = keys
        self._dirty: set[str] = set()
        self._stream_id = "0-0"
        self._task: asyncio.Task[None] | None = None
        self.loaded = redis is None

    @property
    def backend(self) -> str:
        return "redis" if self.redis is not None else "memory"

    # -- life cycle ----------------------------------------------------------

    async def start(self) -> None:
        """Load the shared index (when Redis is configured) and begin syncing."""
        if self.redis is None:
            return
        await self.load()
        self._task = asyncio.create_task(self._sync_forever(), name="identity-sync")

    async def close(self) -> None:
        if self._building is not None:
            self._building.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._building
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def load(self) -> bool:
        """Read the whole shared index from Redis; ``False`` if Redis did not answer."""
        redis = self.redis
        if redis is None:
            return True
        last: Any = await redis.call(
            redis.client.xrevrange(self.keys.identity_changes, count=1), "identity load"
        )
        if last is None:
            return False
        cursor: int = 0
        entries: dict[str, list[str]] = {}
        while True:
            page: Any = await redis.call(
                redis.client.hscan(self.keys.identity_tools, cursor, count=SCAN_COUNT),
                "identity load",
            )
            if page is None:
                return False
            cursor, batch = page
            for gid, value in batch.items():
                entries[gid.decode()] = orjson.loads(value)
            if cursor == 0:
                break
        for gid, keys in entries.items():
            if gid.partition(":")[0] in self.order and gid not in self._dirty:
                self.index.add_tool(gid, keys)
        self._changes += 1
        if last:
            self._stream_id = last[0][0].decode()
        self.loaded = True
        log.info("identity index loaded from Redis: %d tools", len(self.index))
        return True

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                if not self.loaded:
                    await self.load()
                await self.flush()
                await self.pull()
            except Exception:  # a sync failure must never end syncing
                log.exception("identity index sync failed")

    async def flush(self) -> None:
        """Write the tools observed since the last flush to Redis."""
        redis = self.redis
        if redis is None or not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        pipe = redis.client.pipeline(transaction=False)
        for gid in sorted(dirty):
            if gid in self.index:
                pipe.hset(
                    self.keys.identity_tools, gid, orjson.dumps(sorted(self.index.keys_of(gid)))
                )
            else:
                pipe.hdel(self.keys.identity_tools, gid)
            pipe.xadd(
                self.keys.identity_changes, {"gid": gid}, maxlen=STREAM_LENGTH, approximate=True
            )
        if await redis.call(pipe.execute(), "identity write") is None:
            self._dirty |= dirty

    async def pull(self) -> None:
        """Apply the changes other processes made since the last pull."""
        redis = self.redis
        if redis is None:
            return
        answer: Any = await redis.call(
            redis.client.xread({self.keys.identity_changes: self._stream_id}, count=5000),
            "identity read",
        )
        if not answer:
            return
        _, entries = answer[0]
        gids = sorted({fields[b"gid"].decode() for _, fields in entries if b"gid" in fields})
        values: Any = (
            await redis.call(redis.client.hmget(self.keys.identity_tools, gids), "identity read")
            if gids
            else []
        )
        if values is None:
            return
        for gid, value in zip(gids, values, strict=True):
            if gid in self._dirty or gid.partition(":")[0] not in self.order:
                continue
            if value is None:
                self.index.remove_tool(gid)
            else:
                self.index.add_tool(gid, orjson.loads(value))
            self._changes += 1
        self._stream_id = entries[-1][0].decode()

    # -- filling -------------------------------------------------------------

    def observe(self, upstream: str, raw: Mapping[str, Any]) -> None:
        """Record the identity keys of one raw upstream ``Tool`` object."""
        try:
            keys = keys_for_tool(upstream, raw, upstreams=self.names)
        except ValueError:
            return
        gid = f"{upstream}:{raw['id']}"
        if gid in self.index and self.index.keys_of(gid) == keys:
            return
        self.index.add_tool(gid, keys)
        self._dirty.add(gid)
        self._changes += 1

    def forget(self, gid: str) -> None:
        """Drop a tool its upstream no longer lists."""
        if self.index.remove_tool(gid):
            self._dirty.add(gid)
            self._changes += 1

    def replace_crosswalk(self, groups: Collection[Collection[str]]) -> None:
        self.index.replace_groups(groups)
        self._changes += 1

    # -- the grouped view ----------------------------------------------------
    #
    # Grouping is computed for the whole index at once (see IdentityIndex), which
    # takes a noticeable time for tens of thousands of tools. Questions about groups
    # are answered from a *view*: a copy of the index with its groups built. A small
    # index is regrouped on the spot after a change; a large one in a thread, while
    # the previous view keeps answering, so a harvest never stalls requests.

    def view(self) -> IdentityIndex:
        """The latest grouped copy of the index (at most one regrouping behind)."""
        if self._view_changes != self._changes:
            if self._build_cost <= INLINE_BUILD_LIMIT:
                self._install(self._changes, self._regroup(self.index.copy()))
            elif self._building is None or self._building.done():
                self._building = asyncio.get_running_loop().create_task(self.refresh())
        return self._view

    async def refresh(self) -> None:
        """Regroup now, off the event loop; the view then reflects every change so far."""
        if self._view_changes == self._changes:
            return
        changes = self._changes
        view = await asyncio.to_thread(self._regroup, self.index.copy())
        self._install(changes, view)

    def _regroup(self, index: IdentityIndex) -> tuple[IdentityIndex, float]:
        started = time.perf_counter()
        index.build()
        return index, time.perf_counter() - started

    def _install(self, changes: int, built: tuple[IdentityIndex, float]) -> None:
        view, cost = built
        self._build_cost = cost
        if changes >= self._view_changes:
            self._view, self._view_changes = view, changes

    def tools_of(self, upstream: str) -> set[str]:
        prefix = f"{upstream}:"
        return {gid for gid in self.index.tools() if gid.startswith(prefix)}

    # -- questions -----------------------------------------------------------

    def sort(self, gids: Collection[str]) -> list[str]:
        """Gateway ids in configuration order of their upstream, then by id."""

        def rank(gid: str) -> tuple[int, str]:
            return self.order.get(gid.partition(":")[0], len(self.order)), gid

        return sorted(gids, key=rank)

    def twins(self, gid: str) -> list[str]:
        """The other tools of ``gid``'s identity group, in configuration order."""
        view = self.view()
        if gid not in view:
            return []
        return self.sort(view.group_of(gid) - {gid})

    def aliases(self, gid: str) -> list[str]:
        """What the gateway adds to a tool's ``aliases``: its twins' gateway ids,
        then its own canonical keys (its ``gw:`` key left out), sorted."""
        if gid not in self.index:
            return []
        upstream, _, tool_id = gid.partition(":")
        own = gw_key(upstream, tool_id)
        keys = sorted(k for k in self.index.keys_of(gid) if k != own and not k.startswith("gw:"))
        return [*self.twins(gid), *keys]

    def holders(self, tool_id: str) -> list[str]:
        """Known tools whose upstream id is exactly ``tool_id``, in configuration order."""
        return [f"{name}:{tool_id}" for name in self.names if f"{name}:{tool_id}" in self.index]

    def resolve(self, value: str) -> list[str]:
        """Tools ``value`` names in any spelling, in configuration order.

        The tools carrying a specific key of it (or, failing that, a weak one),
        followed by the rest of their identity groups.
        """
        direct = self.index.lookup(value)
        found = set(direct)
        for gid in direct:
            found.update(self.twins(gid))
        first = self.sort(direct)
        return first + [g for g in self.sort(found) if g not in direct]

    def report(self) -> dict[str, Any]:
        groups = self.view().groups()
        return {
            "backend": self.backend,
            "tools": len(self.index),
            "groups": sum(1 for g in groups if len(g) > 1),
            "crosswalk_groups": self.index.crosswalk_size(),
            "pending_writes": len(self._dirty),
        }
