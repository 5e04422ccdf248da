"""Supervised background work: one small helper for every loop the gateway runs.

A :class:`Supervised` task runs one *step* (an async function) over and over:

* a step returns the seconds to wait before the next one, or ``None`` to end;
* a step that raises is logged with its traceback, reported (:attr:`state`
  ``failing`` with the error, and the ``on_error`` callback), and retried after
  a back-off that doubles from ``retry_min`` up to ``retry_max``; the first
  step that succeeds resets it;
* :meth:`Supervised.stop` cancels it and waits for it; a step is never left
  running after shutdown.

So no loop can die silently, report ``running`` while it is dead, or outlive
the application that started it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

__all__ = ["Step", "Supervised", "TaskState"]

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[float | None]]
"""One round of work; returns the seconds until the next round, or ``None`` to end."""


class TaskState(StrEnum):
    IDLE = "idle"
    """Not started yet, or waiting for its next step."""
    RUNNING = "running"
    FAILING = "failing"
    """The last step raised; waiting to retry."""
    DONE = "done"
    """The step asked to end."""
    STOPPED = "stopped"


class Supervised:
    """Runs ``step`` in a task of its own until it ends or :meth:`stop` is called."""

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
        on_error: Callable[[BaseException], Awaitable[None]] | None = None,
        expected: tuple[type[Exception], ...] = (),
    ) -> None:
        self.name = name
        self.step = step
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.on_error = on_error
        self.expected = expected
        """Failures logged as one warning line rather than with a traceback."""
        self.state = TaskState.IDLE
        self.failures = 0
        """Consecutive failed steps."""
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, delay: float = 0.0) -> None:
        """Begin (after ``delay`` seconds); a task already running is left as it is."""
        if self.alive:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(delay), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.state = TaskState.STOPPED

    def retry_delay(self) -> float:
        return float(min(self.retry_max, self.retry_min * 2 ** min(self.failures - 1, 30)))

    async def _run(self, delay: float) -> None:
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            self.state = TaskState.RUNNING
            try:
                next_in = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                self.state = TaskState.FAILING
                self.last_error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, self.expected):
                    log.warning("%s failed (attempt %d): %s", self.name, self.failures, exc)
                else:
                    log.exception("%s failed (attempt %d); retrying", self.name, self.failures)
                if self.on_error is not None:
                    try:
                        await self.on_error(exc)
                    except Exception:
                        log.exception("%s: reporting the failure failed too", self.name)
                delay = self.retry_delay()
                continue
            self.failures = 0
            self.last_error = None
            if next_in is None:
                self.state = TaskState.DONE
                return
            self.state = TaskState.IDLE
            delay = next_in
