"""The shared tier: Redis, used so that no request ever waits on it for long.

Every call is bounded by ``cache.redis_timeout``. A call that fails or is late
counts as a miss, marks Redis *degraded*, and makes the tier skip Redis for a
short, growing back-off, so a dead Redis costs requests nothing. The client
reconnects by itself; the first call that succeeds marks Redis up again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .entry import Entry

__all__ = ["RedisState", "RedisTier"]

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0

# Deletes the lock only if it still holds our token (another process may own it now).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


@dataclass(slots=True)
class RedisState:
    """What operators see of Redis: ``ok`` or ``degraded``, and why."""

    status: str = "ok"
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_ok_at": self.last_ok_at,
            "consecutive_failures": self.failures,
        }


class RedisTier:
    def __init__(self, url: str, timeout: float) -> None:
        self.timeout = timeout
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            retry_on_timeout=False,
        )
        self.state = RedisState()
        self._skip_until = 0.0

    async def call(self, call: Awaitable[T], what: str) -> T | None:
        """Run one Redis call; ``None`` if Redis is failing (and say so)."""
        if time.monotonic() < self._skip_until:
            if asyncio.iscoroutine(call):
                call.close()
            return None
        try:
            result = await asyncio.wait_for(call, self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(f"{what}: {type(exc).__name__}: {exc}".strip(": "))
            return None
        if self.state.status != "ok":
            log.info("Redis is answering again")
        self.state.status = "ok"
        self.state.failures = 0
        self.state.last_ok_at = time.time()
        return result

    def _failed(self, message: str) -> None:
        state = self.state
        if state.status == "ok":
            log.warning("Redis degraded: %s", message)
        state.status = "degraded"
        state.failures += 1
        state.last_error = message
        state.last_error_at = time.time()
        backoff = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** min(state.failures - 1, 10))
        self._skip_until = time.monotonic() + backoff

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._skip_until

    async def get(self, key: str) -> Entry | None:
        data = await self.call(self.client.get(key), "get")
        return Entry.unpack(data) if isinstance(data, bytes) else None

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        ttl = max(1, int(keep_for * 1000))
        await self.call(self.client.set(key, entry.pack(), px=ttl), "set")

    async def acquire(self, lock: str, token: str, lease: float) -> bool | None:
        """``True`` if we hold the lock now, ``False`` if another does, ``None`` if unknown."""
        result = await self.call(
            self.client.set(lock, token, nx=True, px=max(1, int(lease * 1000))), "lock"
        )
        if result is None and not self.available:
            return None
        return bool(result)

    async def release(self, lock: str, token: str) -> None:
        await self.call(self.client.eval(_RELEASE, 1, lock, token), "unlock")

    async def extend(self, lock: str, token: str, lease: float) -> bool:
        """Renew a lock we hold for another ``lease`` seconds; ``False`` if it was lost."""
        ms = max(1, int(lease * 1000))
        return bool(await self.call(self.client.eval(_EXTEND, 1, lock, token, ms), "extend lock"))

    async def locked(self, lock: str) -> bool | None:
        result = await self.call(self.client.exists(lock), "exists")
        return None if result is None else bool(result)

    async def ping(self) -> bool:
        return bool(await self.call(self.client.ping(), "ping"))

    async def scan_delete(self, pattern: str) -> int:
        """Delete every key matching ``pattern``; raises if Redis is unreachable."""
        deleted = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self.client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self.client.unlink(*batch))
        return deleted

    async def scan(self, pattern: str) -> AsyncIterator[bytes]:
        async for key in self.client.scan_iter(match=pattern, count=500):
            yield key

    async def close(self) -> None:
        await self.client.aclose()
