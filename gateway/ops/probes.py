"""Background probes: each upstream is asked something cheap every ``health.probe_interval``.

So ``/health/ready`` tells the truth with no client traffic at all. One task per
upstream name calls :meth:`Upstream.probe <gateway.upstream.base.Upstream.probe>`
on the current federation's client of that name (a reload replaces the
clients; the task simply picks up the new one), once at startup and then every
interval, each within ``health.probe_timeout``. The outcome is recorded by the
monitor like any call.

While an upstream's circuit is open, its next probe waits for the end of the
cool-down instead and is the circuit's one trial call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from ..background import Supervised
from ..errors import GatewayError
from ..requestid import REQUEST_ID
from ..runtime import Runtime
from .monitor import Monitor

__all__ = ["Prober"]

log = logging.getLogger(__name__)


class Prober:
    """One probing task per configured upstream."""

    def __init__(self, runtime: Runtime, monitor: Monitor) -> None:
        self.runtime = runtime
        self.monitor = monitor
        self.tasks: dict[str, Supervised] = {}
        self.wakeups: dict[str, asyncio.Event] = {}
        self.monitor.on_circuit_open = self.wake

    async def sync(self) -> None:
        """Probe exactly the upstreams of the configuration in force (after a reload too)."""
        names = [u.name for u in self.runtime.config.upstreams]
        for name in self.tasks.keys() - set(names):
            self.wakeups.pop(name, None)
            await self.tasks.pop(name).stop()
        for name in names:
            if name in self.tasks and self.tasks[name].alive:
                self.wake(name)  # intervals or the client may have changed
                continue
            self.wakeups[name] = asyncio.Event()
            task = Supervised(f"probe {name}", lambda name=name: self._run(name))  # type: ignore[misc]
            self.tasks[name] = task
            task.start()

    def wake(self, name: str) -> None:
        """Make ``name``'s task work out its next probe time again."""
        event = self.wakeups.get(name)
        if event is not None:
            event.set()

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        self.tasks.clear()
        await asyncio.gather(*(task.stop() for task in tasks))

    def _delay(self, name: str) -> float:
        trial = self.monitor.seconds_to_trial(name)
        return trial if trial is not None else self.runtime.config.health.probe_interval

    async def _run(self, name: str) -> float | None:
        """Probe ``name`` for as long as it is configured (never returns before)."""
        delay = 0.0
        while True:
            wakeup = self.wakeups.get(name)
            if wakeup is None:
                return None
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), delay)
                if wakeup.is_set():
                    wakeup.clear()
                    delay = self._delay(name)  # recomputed from now: woken early
                    if delay > 0:
                        continue
            await self._probe(name)
            delay = self._delay(name)

    async def _probe(self, name: str) -> None:
        upstream = self.runtime.current().federation.by_name.get(name)
        if upstream is None:
            return
        REQUEST_ID.set(f"probe-{uuid.uuid4().hex[:16]}")
        try:
            async with asyncio.timeout(self.runtime.config.health.probe_timeout):
                await upstream.probe()
        except (GatewayError, TimeoutError) as exc:
            log.debug("probe of upstream %s failed: %s", name, exc)
        except Exception:
            log.exception("probe of upstream %s crashed", name)
