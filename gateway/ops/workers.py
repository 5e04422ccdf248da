"""``trs-gateway serve --workers N``: N processes serving one port, and their supervisor.

The supervisor (the process the operator started) runs each worker as
``python -m gateway serve ... --worker-id I``: a complete gateway that binds
the port with ``SO_REUSEPORT``, so the kernel spreads new connections over
the workers. Workers share Redis (when configured) like any replicas, and
share metrics through prometheus-client's multiprocess mode: the supervisor
points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory (or the one already
in the environment) so a scrape of any worker reports all of them.

The supervisor

* passes SIGHUP on to every worker (each reloads its configuration);
* on SIGTERM or SIGINT, sends SIGTERM to every worker, waits for them to
  finish the requests they hold (up to :data:`STOP_TIMEOUT`, then SIGKILL)
  and exits 0 if they all exited cleanly;
* restarts a worker that dies, after a delay that doubles (1 s up to 30 s)
  while workers keep dying soon after starting.

Workers run in their own session, so a terminal's Ctrl-C reaches only the
supervisor, which stops them in order; a worker whose supervisor disappears
(killed with SIGKILL) notices within a second and stops by itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import FrameType

from aiohttp import web

from ..background import Supervised
from .metrics import MULTIPROC_ENV

__all__ = ["Supervisor", "check_port", "watch_parent"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0
"""Seconds workers get to stop after SIGTERM before they are killed."""
MIN_BACKOFF, MAX_BACKOFF = 1.0, 30.0
STABLE_AFTER = 60.0
"""A worker that ran this long before dying is restarted after the shortest delay."""
TICK = 0.2


@dataclass(slots=True)
class Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0
    backoff: float = MIN_BACKOFF
    exit_codes: list[int] = field(default_factory=list)


def check_port(host: str, port: int) -> None:
    """Fail early (``OSError``) if the workers could not bind ``host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))


class Supervisor:
    """Starts, watches, restarts and stops the worker processes."""

    def __init__(self, count: int, command: Callable[[int], list[str]]) -> None:
        self.workers = [Worker(i) for i in range(count)]
        self.command = command
        """The argv of worker ``i``."""
        self.stopping = False
        self.metrics_dir: str | None = None
        self._own_metrics_dir = False

    # -- signals -----------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("%s received: stopping %d worker(s)", signal.strsignal(signum), self.alive)
        self.stopping = True

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP received: every worker reloads its configuration")
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGHUP)

    @property
    def alive(self) -> int:
        return sum(1 for w in self.workers if w.process is not None and w.process.poll() is None)

    # -- running ------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until told to stop; the exit status for the command."""
        previous = {
            sig: signal.signal(sig, handler)
            for sig, handler in (
                (signal.SIGTERM, self._on_stop),
                (signal.SIGINT, self._on_stop),
                (signal.SIGHUP, self._on_hangup),
            )
        }
        self._prepare_metrics_dir()
        try:
            for worker in self.workers:
                self._start(worker)
            while not self.stopping:
                self._check()
                time.sleep(TICK)
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._own_metrics_dir and self.metrics_dir is not None:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _prepare_metrics_dir(self) -> None:
        existing = os.environ.get(MULTIPROC_ENV)
        if existing:
            self.metrics_dir = existing
            os.makedirs(existing, exist_ok=True)
        else:
            self.metrics_dir = tempfile.mkdtemp(prefix="trs-gateway-metrics-")
            self._own_metrics_dir = True

    def _start(self, worker: Worker) -> None:
        env = {**os.environ, MULTIPROC_ENV: self.metrics_dir or ""}
        worker.process = subprocess.Popen(
            self.command(worker.index), env=env, start_new_session=True
        )
        worker.started = time.monotonic()
        log.info("worker %d started (pid %d)", worker.index, worker.process.pid)

    def _check(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            process = worker.process
            if process is None:
                if now >= worker.restart_at:
                    self._start(worker)
                continue
            code = process.poll()
            if code is None:
                continue
            self._forget(process.pid)
            worker.exit_codes.append(code)
            worker.process = None
            if now - worker.started >= STABLE_AFTER:
                worker.backoff = MIN_BACKOFF
            delay = worker.backoff
            worker.backoff = min(worker.backoff * 2, MAX_BACKOFF)
            worker.restart_at = now + delay
            log.error(
                "worker %d (pid %d) exited with status %d; restarting it in %gs",
                worker.index,
                process.pid,
                code,
                delay,
            )

    def _forget(self, pid: int) -> None:
        """Drop a dead worker's live gauges from the shared metrics."""
        if self.metrics_dir is None:
            return
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]

    def _stop_all(self) -> int:
        running = [w.process for w in self.workers if w.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        status = 0
        for process in running:
            try:
                code = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in %gs; killed", process.pid, STOP_TIMEOUT)
                process.kill()
                code = process.wait()
            if code != 0:
                log.error("worker pid %d exited with status %d", process.pid, code)
                status = 1
        log.info("all workers stopped")
        return status


def watch_parent(parent: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for a worker: stop gracefully if the supervisor goes away."""

    async def look() -> float | None:
        if os.getppid() == parent:
            return 1.0  # no event tells of a parent's death: look again in a second
        log.error("the supervisor (pid %d) is gone; stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        return None

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = Supervised("watch-supervisor", look)
        task.start()
        try:
            yield
        finally:
            await task.stop()

    return ctx


def worker_argv(
    config_path: str, host: str, port: int, log_level: str | None
) -> Callable[[int], list[str]]:
    """The command line of worker ``i``: this gateway, as one worker of a group."""

    def argv(index: int) -> list[str]:
        command = [sys.executable, "-m", "gateway", "serve", "--config", config_path]
        command += ["--host", host, "--port", str(port), "--worker-id", str(index)]
        if log_level:
            command += ["--log-level", log_level]
        return command

    return argv
