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
import hashlib
import logging
import math
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson
from cachetools import LRUCache

from ..background import Supervised
from ..identity.keys import IdentityIndex, keys_for_tool
from ..store import RedisStore

__all__ = ["Identity"]

log = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0
"""Seconds between two exchanges with Redis (writing ours, reading others' changes)."""
KEYS_SEEN = 100_000
"""Tool bodies whose identity keys are remembered."""
MAX_TWINS = 50
"""Twins listed per tool; an identity group larger than this is reported cut short."""
INLINE_BUILD_LIMIT = 0.01
"""Seconds a group computation may take on the event loop; slower ones run in a thread."""
REGROUP_PAUSE = 9.0
"""A regrouping in a thread starts no sooner than this many times its last duration
after the previous one ended."""


class Identity:
    """The identity index of the configured upstreams (``names`` in configuration order).

    One per application: it outlives configuration reloads, which call
    :meth:`reconfigure`, and runs exactly one sync task from :meth:`start` to
    :meth:`close`.
    """

    def __init__(
        self,
        names: Sequence[str],
        crosswalk: Collection[Collection[str]],
        store: RedisStore | None,
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
        self._built_at = -math.inf
        """Loop time the last regrouping ended."""
        self._building: asyncio.Task[None] | None = None
        self.store = store
        self._dirty: set[str] = set()
        self._keys_seen: LRUCache[tuple[str, bytes], frozenset[str]] = LRUCache(KEYS_SEEN)
        self._twins_view: IdentityIndex | None = None
        self._twins: dict[str, list[str]] = {}
        """Sorted twins by gateway id, for the view they were computed on."""
        self._stream_id = "0-0"
        self.loaded = store is None
        self.harvested: set[str] = set()
        """Upstreams whose catalogue was walked to the end at least once (by any process
        sharing the index): the index holds every tool they list."""
        self.sync_task = Supervised("identity-sync", self._sync_step, retry_max=SYNC_INTERVAL * 10)

    @property
    def backend(self) -> str:
        return "redis" if self.store is not None else "memory"

    # -- life cycle ----------------------------------------------------------

    async def start(self) -> None:
        """Load the shared index (when Redis is configured) and begin syncing."""
        if self.store is None:
            return
        await self.load()
        self.sync_task.start(SYNC_INTERVAL)

    async def close(self) -> None:
        if self._building is not None:
            self._building.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._building
        await self.sync_task.stop()
        await self.flush()

    def reconfigure(self, names: Sequence[str], crosswalk: Collection[Collection[str]]) -> None:
        """Follow a reloaded configuration: its upstreams (tools of removed ones are
        dropped from this process's index, never from Redis) and its crosswalk."""
        names = list(names)
        if names != self.names:
            old = self.index
            self.names = names
            self.order = {name: i for i, name in enumerate(names)}
            self.index = IdentityIndex(names)
            for gid in old.tools():
                if gid.partition(":")[0] in self.order:
                    self.index.add_tool(gid, old.keys_of(gid))
            if self.store is not None:
                self.loaded = False  # the sync task loads the new upstreams' tools
        self.replace_crosswalk(crosswalk)

    async def load(self) -> bool:
        """Read the whole shared index from Redis; ``False`` if Redis did not answer."""
        if self.store is None:
            return True
        loaded = await self.store.load_identity()
        if loaded is None:
            return False
        entries, position = loaded
        for gid, keys in entries.items():
            if gid.partition(":")[0] in self.order and gid not in self._dirty:
                self.index.add_tool(gid, keys)
        self._changes += 1
        self._stream_id = position
        self.loaded = True
        log.info("identity index loaded from Redis: %d tools", len(self.index))
        return True

    async def _sync_step(self) -> float:
        if not self.loaded:
            await self.load()
        await self.flush()
        await self.pull()
        return SYNC_INTERVAL

    async def flush(self) -> None:
        """Write the tools observed since the last flush to Redis."""
        if self.store is None or not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        tools = {gid: self.index.keys_of(gid) if gid in self.index else None for gid in dirty}
        written = False
        try:
            written = await self.store.write_identity(tools)
        finally:  # not written, or stopped while writing (shutdown): the next flush writes them
            if not written:
                self._dirty |= dirty

    async def pull(self) -> None:
        """Apply the changes other processes made since the last pull."""
        if self.store is None:
            return
        changes = await self.store.identity_changes(self._stream_id)
        if changes is None:
            return
        for gid, keys in changes.tools.items():
            if gid in self._dirty or gid.partition(":")[0] not in self.order:
                continue
            if keys is None:
                self.index.remove_tool(gid)
            else:
                self.index.add_tool(gid, keys)
            self._changes += 1
        self._stream_id = changes.position

    # -- filling -------------------------------------------------------------

    def observe(self, upstream: str, raw: Mapping[str, Any]) -> None:
        """Record the identity keys of one raw upstream ``Tool`` object."""
        keys = self.keys_of_tool(upstream, raw)
        if keys is not None:
            self.record(f"{upstream}:{raw['id']}", keys)

    def keys_of_tool(
        self, upstream: str, raw: Mapping[str, Any], *, remember: bool = True
    ) -> set[str] | None:
        """The identity keys of a raw ``Tool`` (``None`` if it has none usable).

        Computed once per tool body: listings and harvests show the same bodies
        again and again, so the keys are remembered by the body's digest. Safe to
        call in a thread only with ``remember=False`` (the memory is the loop's).
        """
        fingerprint = None
        if remember:
            try:
                digest = hashlib.blake2b(orjson.dumps(raw), digest_size=16).digest()
                fingerprint = (upstream, digest)
            except TypeError:  # not JSON-like: computed, not remembered
                pass
        if fingerprint is not None and fingerprint in self._keys_seen:
            return set(self._keys_seen[fingerprint])
        try:
            keys = keys_for_tool(upstream, raw, upstreams=self.names)
        except ValueError:
            return None
        if fingerprint is not None:
            self._keys_seen[fingerprint] = frozenset(keys)
        return keys

    def record(self, gid: str, keys: set[str]) -> None:
        """Store ``keys`` as the identity keys of tool ``gid`` (if they changed)."""
        if gid in self.index and self.index.keys_of(gid) == keys:
            return
        current = self._view_changes == self._changes
        self.index.add_tool(gid, keys)
        self._dirty.add(gid)
        self._changes += 1
        if current and self._view.add_isolated(gid, keys):  # most new tools: no regrouping
            self._view_changes = self._changes

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

    @property
    def changes(self) -> int:
        """How many times the index has changed: equal counts mean equal answers."""
        return self._changes

    def view(self) -> IdentityIndex:
        """The latest grouped copy of the index (at most one regrouping behind).

        A regrouping in a thread still holds the interpreter most of its time, so
        one starts at least :data:`REGROUP_PAUSE` times its last duration after the
        previous one ended: while tools pour in (a walk, a harvest), grouping takes
        at most a tenth of the process's time.
        """
        if self._view_changes != self._changes:
            if self._build_cost <= INLINE_BUILD_LIMIT:
                self._install(self._changes, self._regroup(self.index.copy()))
            elif self._building is None or self._building.done():
                loop = asyncio.get_running_loop()
                if loop.time() >= self._built_at + self._build_cost * REGROUP_PAUSE:
                    self._building = loop.create_task(self.refresh())
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
        with contextlib.suppress(RuntimeError):  # no loop: only ever built inline
            self._built_at = asyncio.get_running_loop().time()
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
        """The other tools of ``gid``'s identity group, in configuration order (at most
        :data:`MAX_TWINS`: a larger group is a registry's mistake, not one tool)."""
        view = self.view()
        if gid not in view:
            return []
        if self._twins_view is not view:
            self._twins_view, self._twins = view, {}
        found = self._twins.get(gid)
        if found is None:
            group = view.group_of(gid)
            if len(group) == 1:  # most tools: nothing to sort
                found = self._twins[gid] = []
                return found
            if len(group) > MAX_TWINS + 1:
                log.debug(
                    "identity group of %s has %d tools; listing %d", gid, len(group), MAX_TWINS
                )
            found = self._twins[gid] = self.sort(group - {gid})[:MAX_TWINS]
        return found

    def aliases(self, gid: str) -> list[str]:
        """What the gateway adds to a tool's ``aliases``: its twins' gateway ids,
        then its own canonical keys (its ``gw:`` key left out), sorted."""
        if gid not in self.index:
            return []
        return [*self.twins(gid), *self.index.alias_keys(gid)]

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
            "sync": self.sync_task.state.value if self.store is not None else None,
            "tools": len(self.index),
            "groups": sum(1 for g in groups if len(g) > 1),
            "crosswalk_groups": self.index.crosswalk_size(),
            "pending_writes": len(self._dirty),
        }
