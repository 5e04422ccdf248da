"""Caching: an in-process tier in front of Redis in front of the upstreams, and its policy."""

from __future__ import annotations

from .entry import BASE_MARK, Entry
from .policy import CachePolicy
from .tiered import CacheStats, CacheStatus, Fill, FillFn, Lookup, Tier, TieredCache

__all__ = [
    "BASE_MARK",
    "CachePolicy",
    "CacheStats",
    "CacheStatus",
    "Entry",
    "Fill",
    "FillFn",
    "Lookup",
    "Tier",
    "TieredCache",
]
