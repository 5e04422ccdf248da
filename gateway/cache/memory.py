"""The in-process tier: an LRU bounded by entry count and by bytes."""

from __future__ import annotations

from collections.abc import Callable

from cachetools import LRUCache

from .entry import Entry

__all__ = ["MemoryTier"]


class MemoryTier:
    """Least recently used entries go first when either bound is reached.

    Entries are dropped once past ``usable_until`` (lifetime plus the longest
    stale window), so memory never holds what could not be served.
    """

    def __init__(self, max_entries: int, max_bytes: int, stale_window: float) -> None:
        self.max_entries = max_entries
        self.stale_window = stale_window
        self._lru: LRUCache[str, Entry] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda entry: entry.size
        )

    def get(self, key: str, now: float) -> Entry | None:
        if self.max_entries == 0:
            return None
        entry = self._lru.get(key)
        if entry is not None and now >= entry.usable_until(self.stale_window):
            self._lru.pop(key, None)
            return None
        return entry

    def holds(self, key: str, entry: Entry) -> bool:
        """Whether ``entry`` itself is still the one kept for ``key`` (and, if so, used)."""
        return self._lru.get(key) is entry

    def set(self, key: str, entry: Entry) -> None:
        if self.max_entries == 0 or entry.size > self._lru.maxsize:
            return
        self._lru[key] = entry
        while len(self._lru) > self.max_entries:
            self._lru.popitem()

    def drop(self, predicate: Callable[[str], bool]) -> int:
        doomed = [k for k in self._lru if predicate(k)]
        for key in doomed:
            self._lru.pop(key, None)
        return len(doomed)

    def __len__(self) -> int:
        return len(self._lru)

    @property
    def bytes(self) -> int:
        return int(self._lru.currsize)
