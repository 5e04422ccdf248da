"""The one owner of the Redis connection: a bounded pool and a typed method per key pattern.

Nothing else in the gateway touches a Redis client. Every key is built by
:class:`~gateway.store.keys.KeySpace`, and every method here names what it
reads or writes (an answer, a fill lock, a purge, the identity index, a
harvest's progress or lease), so the whole of what the gateway keeps in Redis
is visible in this module.

Serving never waits on Redis for long: each call is bounded by
``cache.redis_timeout``. A call that fails or is late counts as a miss, marks
Redis *degraded*, and makes the store skip Redis for a short, growing
back-off, so a dead Redis costs requests nothing; the first call that succeeds
marks it ``ok`` again. Those methods return ``None`` (or ``False``) when Redis
did not answer. The operator methods used by the command line
(:meth:`RedisStore.delete_answers`, :meth:`RedisStore.publish_purge`,
:meth:`RedisStore.answer_keys`, :meth:`RedisStore.memory_used`) raise
:class:`redis.exceptions.RedisError` or :class:`OSError` instead, so a command
can say that Redis failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..timestamps import iso
from .keys import KeySpace

__all__ = ["IdentityChanges", "RedisState", "RedisStatus", "RedisStore", "RedisUnavailable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0
SCAN_COUNT = 1000

# Deletes a lock only if it still holds our token (another process may own it now).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# A token bucket: KEYS[1] holds "tokens timestamp"; ARGV: rate, burst, now (seconds).
# Answers {allowed (1/0), seconds until a token is there}.
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('get', KEYS[1])
local tokens, stamp = burst, now
if state then
  local sep = string.find(state, ' ')
  tokens = tonumber(string.sub(state, 1, sep - 1))
  stamp = tonumber(string.sub(state, sep + 1))
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed, wait = 0, (1 - tokens) / rate
if tokens >= 1 then tokens, allowed, wait = tokens - 1, 1, 0 end
redis.call('set', KEYS[1], tostring(tokens) .. ' ' .. tostring(now), 'PX',
  math.ceil((burst / rate + 1) * 1000))
return {allowed, tostring(wait)}
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RedisUnavailable(Exception):
    """Redis could not be reached (raised where waiting and retrying is the caller's job)."""


class RedisStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"


@dataclass(slots=True)
class RedisState:
    """What operators see of Redis: ``ok`` or ``degraded``, and why."""

    status: RedisStatus = RedisStatus.OK
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "last_ok_at": iso(self.last_ok_at),
            "consecutive_failures": self.failures,
        }


@dataclass(frozen=True, slots=True)
class IdentityChanges:
    """Tools the identity index changed since a stream position, and the new position."""

    position: str
    tools: dict[str, list[str] | None]
    """Gateway id -> its identity keys, or ``None`` for a tool that was removed."""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """Redis for one gateway process: a pool of at most ``pool_size`` connections."""

    def __init__(
        self,
        url: str,
        keys: KeySpace,
        *,
        timeout: float,
        pool_size: int = 64,
        client_name: str | None = None,
    ) -> None:
        self.url = url
        self.keys = keys
        self.timeout = timeout
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=None,  # each call is bounded by ``timeout`` as a whole
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            retry_on_timeout=False,
            client_name=client_name,
        )
        self._client = aioredis.Redis(connection_pool=self._pool)
        # One connection stays free for the purge subscription; the others serve calls,
        # which take a turn before their time starts, so a busy pool is never "down".
        self._turns = asyncio.Semaphore(max(1, pool_size - 1))
        self.state = RedisState()
        self._skip_until = 0.0

    # -- the guarded call ------------------------------------------------------

    async def _call(self, call: Awaitable[T], what: str) -> T | None:
        """Run one Redis call; ``None`` if Redis is failing (and say so).

        A call first waits for a free connection (at most ``pool_size - 1`` calls run
        at once); only the call itself is bounded by ``timeout``, so waiting for a
        busy pool is never taken for Redis being down.
        """
        if time.monotonic() < self._skip_until:
            if asyncio.iscoroutine(call):
                call.close()
            return None
        try:
            async with self._turns:
                result = await asyncio.wait_for(call, self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(f"{what}: {type(exc).__name__}: {exc}".strip(": "))
            return None
        if self.state.status is not RedisStatus.OK:
            log.info("Redis is answering again")
        self.state.status = RedisStatus.OK
        self.state.failures = 0
        self.state.last_ok_at = time.time()
        return result

    def _failed(self, message: str) -> None:
        state = self.state
        if state.status is RedisStatus.OK:
            log.warning("Redis degraded: %s", message)
        state.status = RedisStatus.DEGRADED
        state.failures += 1
        state.last_error = message
        state.last_error_at = time.time()
        backoff = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** min(state.failures - 1, 10))
        self._skip_until = time.monotonic() + backoff

    @property
    def available(self) -> bool:
        """Whether calls are being made (not skipped during a back-off)."""
        return time.monotonic() >= self._skip_until

    async def ping(self) -> bool:
        return bool(await self._call(self._client.ping(), "ping"))

    async def close(self) -> None:
        await self._client.aclose()
        await self._pool.disconnect()

    # -- cached answers --------------------------------------------------------

    async def get_answer(self, key: str) -> bytes | None:
        data = await self._call(self._client.get(key), "get")
        return data if isinstance(data, bytes) else None

    async def set_answer(self, key: str, data: bytes, keep_for: float) -> None:
        await self._call(self._client.set(key, data, px=_ms(keep_for)), "set")

    # -- locks and leases ------------------------------------------------------

    async def _acquire(self, lock: str, token: str, lease: float) -> bool | None:
        result = await self._call(self._client.set(lock, token, nx=True, px=_ms(lease)), "lock")
        if result is None and not self.available:
            return None
        return bool(result)

    async def _release(self, lock: str, token: str) -> None:
        await self._call(self._client.eval(_RELEASE, 1, lock, token), "unlock")

    async def _extend(self, lock: str, token: str, lease: float) -> bool | None:
        result = await self._call(
            self._client.eval(_EXTEND, 1, lock, token, _ms(lease)), "extend lock"
        )
        return None if result is None else bool(result)

    async def acquire_fill_lock(self, key: str, token: str, lease: float) -> bool | None:
        """``True`` if we hold the fill lock of answer ``key`` now, ``False`` if another
        process does, ``None`` if Redis did not say."""
        return await self._acquire(self.keys.lock(key), token, lease)

    async def release_fill_lock(self, key: str, token: str) -> None:
        await self._release(self.keys.lock(key), token)

    async def fill_locked(self, key: str) -> bool | None:
        result = await self._call(self._client.exists(self.keys.lock(key)), "exists")
        return None if result is None else bool(result)

    async def acquire_harvest_lease(self, upstream: str, token: str, lease: float) -> bool | None:
        """Like :meth:`acquire_fill_lock`, for the right to harvest ``upstream``."""
        return await self._acquire(self.keys.harvest_lock(upstream), token, lease)

    async def renew_harvest_lease(self, upstream: str, token: str, lease: float) -> bool | None:
        """``False`` when the lease is no longer ours (expired, or another took it)."""
        return await self._extend(self.keys.harvest_lock(upstream), token, lease)

    async def release_harvest_lease(self, upstream: str, token: str) -> None:
        await self._release(self.keys.harvest_lock(upstream), token)

    # -- rate limits -----------------------------------------------------------

    async def take_token(
        self, client: str, per_second: float, burst: int
    ) -> tuple[bool, float] | None:
        """Take a token from ``client``'s shared bucket: whether one was there, and the
        seconds until the next one; ``None`` if Redis did not answer."""
        result: Any = await self._call(
            self._client.eval(
                _TAKE, 1, self.keys.rate_bucket(client), per_second, burst, time.time()
            ),
            "rate limit",
        )
        if result is None:
            return None
        allowed, wait = result
        return bool(int(allowed)), float(wait)

    # -- purges ----------------------------------------------------------------

    async def publish_purge(self, message: bytes) -> None:
        """Announce a purge to every running gateway (operator call: raises)."""
        await self._client.publish(self.keys.purge_channel, message)

    async def purges(self) -> AsyncIterator[bytes]:
        """Purge announcements as they arrive; raises :class:`RedisUnavailable` when the
        connection drops."""
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.keys.purge_channel)
            async for message in pubsub.listen():
                if message.get("type") == "message" and isinstance(message["data"], bytes):
                    yield message["data"]
        except (RedisError, OSError) as exc:
            raise RedisUnavailable(f"purge subscription: {type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def delete_answers(self, upstream: str | None = None, tool: str | None = None) -> int:
        """Delete the cached answers of everything, one upstream or one tool (operator
        call: raises); listings go too when everything is purged."""
        deleted = await self._delete_matching(self.keys.pattern(upstream, tool))
        if upstream is None:
            deleted += await self._delete_matching(self.keys.listing_pattern)
        return deleted

    async def _delete_matching(self, pattern: str) -> int:
        deleted = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self._client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self._client.unlink(*batch))
        return deleted

    async def answer_keys(self) -> AsyncIterator[str]:
        """Every cached answer's key (operator call: raises)."""
        async for key in self._client.scan_iter(match=self.keys.pattern(), count=500):
            yield key.decode()

    async def fill_locks_held(self) -> int:
        """How many fill locks are held now (operator call: raises)."""
        return len([k async for k in self._client.scan_iter(match=self.keys.lock_pattern)])

    async def memory_used(self) -> str | None:
        """Redis's own ``used_memory_human`` (operator call: raises)."""
        info = await self._client.info("memory")
        value = info.get("used_memory_human")
        return None if value is None else str(value)

    # -- the identity index ----------------------------------------------------

    async def load_identity(self) -> tuple[dict[str, list[str]], str] | None:
        """The whole shared index (gateway id -> keys) and the change-stream position it
        reflects; ``None`` if Redis did not answer."""
        last: Any = await self._call(
            self._client.xrevrange(self.keys.identity_changes, count=1), "identity load"
        )
        if last is None:
            return None
        cursor = 0
        entries: dict[str, list[str]] = {}
        while True:
            page: Any = await self._call(
                self._client.hscan(self.keys.identity_tools, cursor, count=SCAN_COUNT),
                "identity load",
            )
            if page is None:
                return None
            cursor, batch = page
            for gid, value in batch.items():
                entries[gid.decode()] = orjson.loads(value)
            if cursor == 0:
                break
        position = last[0][0].decode() if last else "0-0"
        return entries, position

    async def write_identity(self, tools: Mapping[str, Collection[str] | None]) -> bool:
        """Store each tool's keys (``None``: remove it) and announce each on the change
        stream; ``False`` if Redis did not answer (nothing is known to be written)."""
        pipe = self._client.pipeline(transaction=False)
        for gid in sorted(tools):
            keys = tools[gid]
            if keys is None:
                pipe.hdel(self.keys.identity_tools, gid)
            else:
                pipe.hset(self.keys.identity_tools, gid, orjson.dumps(sorted(keys)))
            pipe.xadd(
                self.keys.identity_changes,
                {"gid": gid},
                maxlen=self.keys.identity_stream_length,
                approximate=True,
            )
        return await self._call(pipe.execute(), "identity write") is not None

    async def identity_changes(self, since: str, count: int = 5000) -> IdentityChanges | None:
        """What other processes changed after stream position ``since``; ``None`` if
        Redis did not answer."""
        answer: Any = await self._call(
            self._client.xread({self.keys.identity_changes: since}, count=count),
            "identity read",
        )
        if answer is None:
            return None
        if not answer:
            return IdentityChanges(since, {})
        _, entries = answer[0]
        gids = sorted({fields[b"gid"].decode() for _, fields in entries if b"gid" in fields})
        values: Any = (
            await self._call(self._client.hmget(self.keys.identity_tools, gids), "identity read")
            if gids
            else []
        )
        if values is None:
            return None
        tools = {
            gid: None if value is None else cast(list[str], orjson.loads(value))
            for gid, value in zip(gids, values, strict=True)
        }
        return IdentityChanges(entries[-1][0].decode(), tools)

    # -- harvest progress ------------------------------------------------------

    async def harvest_progress(self, upstream: str) -> dict[str, str] | None:
        """The saved progress fields of ``upstream``'s harvest (empty if none)."""
        data: Any = await self._call(
            self._client.hgetall(self.keys.harvest(upstream)), "harvest progress"
        )
        if data is None:
            return None
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in data.items()}

    async def save_harvest_progress(self, upstream: str, fields: Mapping[str, str]) -> None:
        await self._call(
            self._client.hset(self.keys.harvest(upstream), mapping=dict(fields)),  # type: ignore[arg-type]
            "harvest progress",
        )
