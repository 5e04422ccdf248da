"""The harvester: walks every upstream's catalogue so the identity index is complete.

Matches must not depend on what clients happened to ask for, so each upstream's
whole ``/tools`` listing is read in the background: when the gateway starts,
then again ``identity.harvest.interval`` seconds after each completed walk.

* One listing request at a time per upstream, ``pause`` seconds apart, so a
  harvest is a trickle next to client traffic.
* Progress (the position reached) is saved after every page: in Redis when it
  is configured, so a restarted gateway resumes where the last one stopped; in
  memory otherwise.
* With Redis, a lease per upstream lets one process of all replicas harvest it;
  the others see its progress and its results through the shared index. The
  lease is renewed after every page; a walk whose lease was taken over stops.
* A walk that ran from the first tool to the last also forgets the tools the
  upstream no longer lists.
* Each walk is a supervised task (:mod:`gateway.background`): any failure (the
  upstream, an unreadable saved position, a bug) shows as ``failing`` with its
  error and is retried with back-off, from where the walk stopped (from the
  first tool when the saved position could not be read).
* Stopping the task (shutdown) ends it after the current request; the saved
  position is where the next start resumes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from ..background import Supervised
from ..config import HarvestConfig, UpstreamConfig
from ..errors import GatewayError
from ..store import RedisStore
from ..timestamps import iso
from ..upstream import Upstream
from .shared import Identity

__all__ = ["CorruptProgress", "HarvestState", "Harvester", "LeaseLost", "Progress"]

log = logging.getLogger(__name__)

LOCK_LEASE = 120.0
"""Seconds a harvest lease lives unless renewed; renewed after every page."""
ELSEWHERE_RECHECK = 30.0
"""Longest wait before looking again at a lease another process holds."""


class HarvestState(StrEnum):
    IDLE = "idle"
    """Waiting for the next walk."""
    RUNNING = "running"
    FAILING = "failing"
    """The last attempt failed; retrying with back-off."""
    ELSEWHERE = "elsewhere"
    """Another process holds the lease and harvests it."""
    DISABLED = "disabled"


class LeaseLost(Exception):
    """Another process took over this upstream's harvest lease during a walk."""


class CorruptProgress(ValueError):
    """The saved progress of a harvest cannot be read."""


@dataclass(slots=True)
class Progress:
    """One upstream's harvest, as stored and as reported."""

    state: HarvestState = HarvestState.IDLE
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
            "state": self.state.value,
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
    def from_stored(cls, text: Mapping[str, str]) -> Progress:
        """The progress saved as ``text``; raises ``ValueError`` naming a corrupt field."""

        def field(name: str, parse: Callable[[str], Any], default: Any) -> Any:
            value = text.get(name, "")
            if not value:
                return default
            try:
                return parse(value)
            except ValueError:
                raise CorruptProgress(
                    f"saved harvest progress is corrupt: {name}={value!r}"
                ) from None

        return cls(
            state=field("state", HarvestState, HarvestState.IDLE),
            position=field("position", _count, 0),
            seen=field("seen", _count, 0),
            walk_started_at=field("walk_started_at", float, None),
            last_completed=field("last_completed", float, None),
            last_error=text.get("last_error") or None,
            walks=field("walks", _count, 0),
            complete_walk=False,
        )

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        del data["complete_walk"]
        data["state"] = self.state.value
        data["walk_started_at"] = iso(self.walk_started_at)
        data["last_completed"] = iso(self.last_completed)
        data["tools_seen"] = data.pop("seen")
        return data


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


Clients = Callable[[], Mapping[str, Upstream]]
"""The upstream clients of the configuration in force, by name."""


class Harvester:
    """One supervised background walk per upstream with ``harvest: true``.

    One per application, like the identity index it fills: a configuration
    reload calls :meth:`sync`, which starts and stops walks so that exactly one
    runs per harvested upstream. Each page is read with the client of the
    configuration in force at that moment.
    """

    def __init__(
        self,
        identity: Identity,
        clients: Clients,
        config: HarvestConfig,
        upstreams: Sequence[UpstreamConfig],
        store: RedisStore | None = None,
    ) -> None:
        self.identity = identity
        self.clients = clients
        self.store = store
        self.config = config
        self.progress: dict[str, Progress] = {}
        self.tasks: dict[str, Supervised] = {}
        self._token = secrets.token_hex(8)
        self._started = False
        self._reconfigure(config, upstreams)

    def _wanted(self, upstreams: Sequence[UpstreamConfig]) -> list[str]:
        if not self.config.enabled:
            return []
        return [u.name for u in upstreams if u.harvest]

    def _reconfigure(self, config: HarvestConfig, upstreams: Sequence[UpstreamConfig]) -> None:
        self.config = config
        wanted = set(self._wanted(upstreams))
        self.progress = {
            u.name: self.progress.get(u.name)
            or Progress(HarvestState.IDLE if u.name in wanted else HarvestState.DISABLED)
            for u in upstreams
        }
        for name, progress in self.progress.items():
            if name not in wanted:
                progress.state = HarvestState.DISABLED
            elif progress.state is HarvestState.DISABLED:
                progress.state = HarvestState.IDLE

    async def look(self) -> None:
        """Read every upstream's saved progress (for the upstreams this process does not
        harvest too: another replica may have), so the index knows what it covers."""
        for name in list(self.progress):
            try:
                await self.load(name)
            except CorruptProgress as exc:
                log.warning("harvest of %s: %s", name, exc)

    def start(self) -> None:
        """Begin the background walks (none when harvesting is disabled)."""
        self._started = True
        for name, progress in self.progress.items():
            if progress.state is not HarvestState.DISABLED and name not in self.tasks:
                task = Supervised(
                    f"harvest-{name}",
                    lambda name=name: self._step(name),  # type: ignore[misc]
                    retry_min=self.config.retry_min,
                    retry_max=self.config.retry_max,
                    on_error=lambda exc, name=name: self._failed(name, exc),  # type: ignore[misc]
                    expected=(GatewayError,),
                )
                self.tasks[name] = task
                task.start(self.config.start_delay)

    async def sync(self, config: HarvestConfig, upstreams: Sequence[UpstreamConfig]) -> None:
        """Follow a reloaded configuration: stop walks of upstreams no longer harvested,
        start walks of new ones, keep the rest where they are."""
        self._reconfigure(config, upstreams)
        for name in list(self.tasks):
            if self.progress.get(name, Progress(HarvestState.DISABLED)).state is (
                HarvestState.DISABLED
            ):
                await self.tasks.pop(name).stop()
                await self.unlock(name)
        for task in self.tasks.values():
            task.retry_min, task.retry_max = config.retry_min, config.retry_max
        if self._started:
            self.start()

    async def close(self) -> None:
        tasks = list(self.tasks.items())
        self.tasks.clear()
        for name, task in tasks:
            await task.stop()
            await self.unlock(name)

    def report(self, upstream: str) -> dict[str, Any] | None:
        progress = self.progress.get(upstream)
        return None if progress is None else progress.report()

    # -- one step of the background walk ------------------------------------------

    async def _step(self, name: str) -> float | None:
        """Walk ``name`` if a walk is due and ours; the seconds until the next look."""
        progress = await self.load(name)
        rest = self._rest(progress)
        if rest is not None:
            return rest
        if not await self.lock(name):
            progress.state = HarvestState.ELSEWHERE
            return min(self.config.interval, ELSEWHERE_RECHECK)
        try:
            # The process that held the lease until now may have just completed a walk.
            progress = await self.load(name)
            rest = self._rest(progress)
            if rest is not None:
                return rest
            await self.walk(name, progress)
        except LeaseLost:
            log.warning("harvest of %s stopped: another process took its lease", name)
            progress.state = HarvestState.ELSEWHERE
            return min(self.config.interval, ELSEWHERE_RECHECK)
        finally:
            await self.unlock(name)
        return 0.0

    def _rest(self, progress: Progress) -> float | None:
        """Seconds until the next walk is due, if it is not due now (then ``progress`` is idle)."""
        due = (progress.last_completed or 0.0) + self.config.interval
        resuming = progress.position > 0
        if not resuming and progress.last_completed is not None and time.time() < due:
            progress.state = HarvestState.IDLE
            return min(due - time.time(), self.config.interval)
        return None

    async def _failed(self, name: str, exc: BaseException) -> None:
        progress = self.progress.get(name)
        if progress is None:
            return
        if isinstance(exc, CorruptProgress):
            log.warning("harvest of %s: %s; the next walk starts from the first tool", name, exc)
            progress = self.progress[name] = Progress()
        progress.state = HarvestState.FAILING
        if isinstance(exc, GatewayError):
            progress.last_error = exc.message  # names the upstream and what went wrong
        elif isinstance(exc, CorruptProgress):
            progress.last_error = str(exc)
        else:
            progress.last_error = f"unexpected error (a bug, logged): {type(exc).__name__}: {exc}"
        await self._save(name, progress)

    def client(self, name: str) -> Upstream:
        upstream = self.clients().get(name)
        if upstream is None:
            raise LookupError(f"upstream {name!r} is no longer configured")
        return upstream

    async def walk(
        self,
        name: str,
        progress: Progress | None = None,
        on_page: Callable[[int], Awaitable[None] | None] | None = None,
    ) -> Progress:
        """Read ``name``'s listing from ``progress.position`` to its end.

        ``on_page`` is told how many tools each page held (the CLI's progress
        bar). Raises the upstream's error when a page cannot be read, and
        :class:`LeaseLost` when another process took the lease; the position
        reached is saved first.
        """
        if progress is None:
            progress = await self.load(name)
        if progress.position == 0:
            progress.seen = 0
            progress.walk_started_at = time.time()
            progress.complete_walk = True
        progress.state = HarvestState.RUNNING
        progress.last_error = None
        seen: set[str] = set()
        first = True
        while True:
            if not first and self.config.pause:
                await asyncio.sleep(self.config.pause)
            first = False
            page = await self.client(name).list_tools({}, progress.position, self.config.page_size)
            for raw in page.items:
                self.identity.observe(name, raw)
                if isinstance(raw.get("id"), str):
                    seen.add(f"{name}:{raw['id']}")
            progress.position += len(page.items)
            progress.seen += len(page.items)
            await self._save(name, progress)
            if not await self._renew(name):
                raise LeaseLost(name)
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
        progress.state = HarvestState.IDLE
        progress.position = 0
        progress.last_completed = time.time()
        self.identity.harvested.add(name)
        progress.walks += 1
        progress.complete_walk = True
        await self._save(name, progress)
        log.info("harvest of %s complete: %d tools", name, progress.seen)
        return progress

    # -- persistence and leases ----------------------------------------------------

    async def load(self, name: str) -> Progress:
        """The saved progress (Redis when configured, so it survives restarts)."""
        current = self.progress.setdefault(name, Progress())
        if self.store is None:
            return current
        data = await self.store.harvest_progress(name)
        if data:
            loaded = Progress.from_stored(data)
            if loaded.last_completed is not None:
                self.identity.harvested.add(name)
            if loaded.position == current.position and current.complete_walk:
                loaded.complete_walk = True
            self.progress[name] = loaded
            return loaded
        return current

    async def _save(self, name: str, progress: Progress) -> None:
        self.progress[name] = progress
        if self.store is not None:
            await self.store.save_harvest_progress(name, progress.stored())

    async def lock(self, name: str) -> bool:
        if self.store is None:
            return True
        held = await self.store.acquire_harvest_lease(name, self._token, LOCK_LEASE)
        # Redis down: harvest anyway; the index still fills this process.
        return held is None or held

    async def _renew(self, name: str) -> bool:
        """``False`` only when the lease is known to be someone else's now."""
        if self.store is None:
            return True
        renewed = await self.store.renew_harvest_lease(name, self._token, LOCK_LEASE)
        return renewed is not False

    async def unlock(self, name: str) -> None:
        if self.store is not None:
            await self.store.release_harvest_lease(name, self._token)
