"""The harvester: walks every upstream's catalogue so the identity index is complete.

Matches must not depend on what clients happened to ask for, so each upstream's
whole ``/tools`` listing is read in the background: when the gateway starts,
then again ``identity.harvest.interval`` seconds after each completed walk.

* One listing request at a time per upstream, ``pause`` seconds apart, so a
  harvest is a trickle next to client traffic.
* Progress (the position reached) is saved after every page: in Redis when it
  is configured, so a restarted gateway resumes where the last one stopped; in
  memory otherwise.
* With Redis, a lock per upstream lets one process of all replicas harvest it;
  the others see its progress and its results through the shared index.
* A walk that ran from the first tool to the last also forgets the tools the
  upstream no longer lists.
* A failing upstream is retried with backoff, from where the walk stopped.
* Cancelling the task (shutdown) stops after the current request; the saved
  position is where the next start resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

from ..cache import RedisTier
from ..config import HarvestConfig
from ..errors import GatewayError
from ..timestamps import iso
from ..upstream import Upstream
from .service import Identity

__all__ = ["Harvester", "Progress"]

log = logging.getLogger(__name__)

RETRY_MIN = 5.0
RETRY_MAX = 600.0
LOCK_LEASE = 120.0
"""Seconds a harvest lock lives unless renewed; renewed after every page."""


@dataclass(slots=True)
class Progress:
    """One upstream's harvest, as stored and as reported."""

    state: str = "idle"
    """``idle`` (waiting for the next walk), ``running``, ``failing`` (retrying),
    ``elsewhere`` (another process holds the lock) or ``disabled``."""
    position: int = 0
    """Index in the upstream's listing where the walk continues."""
    seen: int = 0
    """Tools read in the current (or last) walk."""
    walk_started_at: float | None = None
    last_completed: float | None = None
    last_error: str | None = None
    walks: int = 0
    complete_walk: bool = True
    """Whether the current walk started at the first tool in this process."""

    def stored(self) -> dict[str, str]:
        out = {
            "state": self.state,
            "position": str(self.position),
            "seen": str(self.seen),
            "walks": str(self.walks),
        }
        for name in ("walk_started_at", "last_completed"):
            value = getattr(self, name)
            out[name] = "" if value is None else repr(value)
        out["last_error"] = self.last_error or ""
        return out

    @classmethod
    def from_stored(cls, data: dict[bytes, bytes]) -> Progress:
        text = {k.decode(): v.decode() for k, v in data.items()}

        def number(name: str) -> float | None:
            value = text.get(name, "")
            return float(value) if value else None

        return cls(
            state=text.get("state", "idle"),
            position=int(text.get("position") or 0),
            seen=int(text.get("seen") or 0),
            walk_started_at=number("walk_started_at"),
            last_completed=number("last_completed"),
            last_error=text.get("last_error") or None,
            walks=int(text.get("walks") or 0),
            complete_walk=False,
        )

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        del data["complete_walk"]
        data["walk_started_at"] = iso(self.walk_started_at)
        data["last_completed"] = iso(self.last_completed)
        data["tools_seen"] = data.pop("seen")
        return data


class Harvester:
    """One background walk per upstream that has ``harvest: true``."""

    def __init__(
        self,
        identity: Identity,
        upstreams: Sequence[Upstream],
        config: HarvestConfig,
        redis: RedisTier | None = None,
    ) -> None:
        self.identity = identity
        self.upstreams = [u for u in upstreams if u.config.harvest]
        self.config = config
        self.redis = redis
        self.keys = identity.keys
        self.progress: dict[str, Progress] = {
            u.name: Progress("idle" if config.enabled and u.config.harvest else "disabled")
            for u in upstreams
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._token = secrets.token_hex(8)

    def start(self) -> None:
        """Begin the background walks (nothing when harvesting is disabled)."""
        if not self.config.enabled:
            return
        for upstream in self.upstreams:
            self._tasks.append(
                asyncio.create_task(self._run(upstream), name=f"harvest-{upstream.name}")
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def report(self, upstream: str) -> dict[str, Any] | None:
        progress = self.progress.get(upstream)
        return None if progress is None else progress.report()

    # -- the walk ------------------------------------------------------------------

    async def _run(self, upstream: Upstream) -> None:
        await asyncio.sleep(self.config.start_delay)
        failures = 0
        while True:
            progress = await self.load(upstream.name)
            due = (progress.last_completed or 0.0) + self.config.interval
            resuming = progress.position > 0
            if not resuming and progress.last_completed is not None and time.time() < due:
                progress.state = "idle"
                await asyncio.sleep(min(due - time.time(), self.config.interval))
                continue
            if not await self.lock(upstream.name):
                progress.state = "elsewhere"
                await asyncio.sleep(min(self.config.interval, 30.0))
                continue
            try:
                await self.walk(upstream, progress)
                failures = 0
            except GatewayError as exc:
                failures += 1
                progress.state = "failing"
                progress.last_error = f"{type(exc).__name__}: {exc.message}"
                await self._save(upstream.name, progress)
                log.warning("harvest of %s failed: %s", upstream.name, exc.message)
                await asyncio.sleep(min(RETRY_MAX, RETRY_MIN * 2 ** min(failures - 1, 10)))
            finally:
                await self.unlock(upstream.name)

    async def walk(
        self,
        upstream: Upstream,
        progress: Progress | None = None,
        on_page: Callable[[int], Awaitable[None] | None] | None = None,
    ) -> Progress:
        """Read ``upstream``'s listing from ``progress.position`` to its end.

        ``on_page`` is told how many tools each page held (the CLI's progress
        bar). Raises the upstream's error when a page cannot be read; the
        position reached is saved first.
        """
        if progress is None:
            progress = await self.load(upstream.name)
        name = upstream.name
        if progress.position == 0:
            progress.seen = 0
            progress.walk_started_at = time.time()
            progress.complete_walk = True
        progress.state = "running"
        progress.last_error = None
        seen: set[str] = set()
        first = True
        while True:
            if not first and self.config.pause:
                await asyncio.sleep(self.config.pause)
            first = False
            page = await upstream.list_tools({}, progress.position, self.config.page_size)
            for raw in page.items:
                self.identity.observe(name, raw)
                if isinstance(raw.get("id"), str):
                    seen.add(f"{name}:{raw['id']}")
            progress.position += len(page.items)
            progress.seen += len(page.items)
            await self._save(name, progress)
            await self._renew(name)
            if on_page is not None:
                result = on_page(len(page.items))
                if result is not None:
                    await result
            if page.exhausted or not page.items:
                break
        if progress.complete_walk:
            for gid in self.identity.tools_of(name) - seen:
                self.identity.forget(gid)
        await self.identity.flush()
        await self.identity.refresh()
        progress.state = "idle"
        progress.position = 0
        progress.last_completed = time.time()
        progress.walks += 1
        progress.complete_walk = True
        await self._save(name, progress)
        log.info("harvest of %s complete: %d tools", name, progress.seen)
        return progress

    # -- persistence and locking -------------------------------------------------------

    async def load(self, name: str) -> Progress:
        """The saved progress (Redis when configured, so it survives restarts)."""
        current = self.progress[name]
        if self.redis is None:
            return current
        data: Any = await self.redis.call(
            self.redis.client.hgetall(self.keys.harvest(name)), "harvest"
        )
        if data:
            loaded = Progress.from_stored(data)
            if loaded.position == current.position and current.complete_walk:
                loaded.complete_walk = True
            self.progress[name] = loaded
            return loaded
        return current

    async def _save(self, name: str, progress: Progress) -> None:
        self.progress[name] = progress
        if self.redis is not None:
            await self.redis.call(
                self.redis.client.hset(
                    self.keys.harvest(name), mapping=cast(Any, progress.stored())
                ),
                "harvest",
            )

    async def lock(self, name: str) -> bool:
        if self.redis is None:
            return True
        held = await self.redis.acquire(self.keys.harvest_lock(name), self._token, LOCK_LEASE)
        # Redis down: harvest anyway; the index still fills this process.
        return held is None or held

    async def _renew(self, name: str) -> None:
        if self.redis is not None:
            await self.redis.extend(self.keys.harvest_lock(name), self._token, LOCK_LEASE)

    async def unlock(self, name: str) -> None:
        if self.redis is not None:
            await self.redis.release(self.keys.harvest_lock(name), self._token)
