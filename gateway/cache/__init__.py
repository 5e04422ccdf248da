"""Caching: an in-process tier in front of Redis in front of the upstreams."""

from __future__ import annotations

from .entry import BASE_MARK, Entry
from .keys import KeySpace
from .redis_tier import RedisState, RedisTier
from .tiered import CacheStats, Fill, Lookup, Outcome, TieredCache

__all__ = [
    "BASE_MARK",
    "CacheStats",
    "Entry",
    "Fill",
    "KeySpace",
    "Lookup",
    "Outcome",
    "RedisState",
    "RedisTier",
    "TieredCache",
]
