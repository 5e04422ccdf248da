"""Redis: the one place that talks to it (:class:`RedisStore`) and names its keys
(:class:`KeySpace`)."""

from __future__ import annotations

from .keys import AnswerKind, KeySpace
from .redis import IdentityChanges, RedisState, RedisStatus, RedisStore, RedisUnavailable

__all__ = [
    "AnswerKind",
    "IdentityChanges",
    "KeySpace",
    "RedisState",
    "RedisStatus",
    "RedisStore",
    "RedisUnavailable",
]
