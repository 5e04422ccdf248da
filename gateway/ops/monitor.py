"""What the gateway knows about each upstream's health, kept by upstream name.

The :class:`Monitor` is the :class:`~gateway.upstream.observer.CallObserver`
of every upstream client: every call (for a client, or a background probe)
passes through :meth:`Monitor.admit` and ends in :meth:`Monitor.record`, which
feeds the upstream's circuit breaker, its health state and the metrics. It
belongs to the application, not to a federation, so a configuration reload
keeps each upstream's history (unless its URL or flavor changed).

State rules (``docs/operations.md`` repeats them for operators):

* ``down``: the circuit is open, or the most recent call or probe failed
  (no success since the last failure);
* ``degraded``: the circuit is half-open (its trial call is under way), or a
  call failed within the last ``health.degraded_for`` seconds;
* ``up``: otherwise, including before the first probe has finished.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..config import GatewayConfig, UpstreamConfig
from ..errors import UpstreamCircuitOpen
from ..timestamps import iso
from ..upstream import Upstream
from ..upstream.observer import CallOutcome, Outcome
from .circuit import Circuit, CircuitBreaker
from .metrics import Metrics

__all__ = ["Monitor", "State", "UpstreamHealth", "iso"]

log = logging.getLogger(__name__)


class State(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(slots=True)
class LastError:
    at: float
    reason: Outcome
    message: str


class UpstreamHealth:
    """Call history and circuit of one upstream."""

    def __init__(self, config: UpstreamConfig, gateway: GatewayConfig) -> None:
        self.config = config
        federation = gateway.federation
        self.circuit = CircuitBreaker(federation.circuit_failures, federation.circuit_cooldown)
        self.latencies: deque[float] = deque(maxlen=gateway.health.latency_window)
        self.degraded_for = gateway.health.degraded_for
        self.last_success: float | None = None
        self.last_error: LastError | None = None
        self.last_failure_mono: float | None = None
        self.last_probe: float | None = None
        self.calls = 0
        self.failures = 0

    def reconfigure(self, config: UpstreamConfig, gateway: GatewayConfig) -> None:
        self.config = config
        self.circuit.failures_to_open = gateway.federation.circuit_failures
        self.circuit.cooldown = gateway.federation.circuit_cooldown
        self.degraded_for = gateway.health.degraded_for
        if self.latencies.maxlen != gateway.health.latency_window:
            self.latencies = deque(self.latencies, maxlen=gateway.health.latency_window)

    def state(self, now: float) -> State:
        if self.circuit.state is Circuit.OPEN:
            return State.DOWN
        if self.circuit.state is Circuit.HALF_OPEN:
            return State.DEGRADED
        if self.circuit.consecutive_failures > 0:
            return State.DOWN
        if self.last_failure_mono is not None and now - self.last_failure_mono < self.degraded_for:
            return State.DEGRADED
        return State.UP

    def report(self, now: float) -> dict[str, Any]:
        """This upstream's entry in ``/health/ready`` (see ``docs/operations.md``)."""
        samples = sorted(self.latencies)
        p50 = p95 = None
        if len(samples) == 1:
            p50 = p95 = samples[0]
        elif samples:
            cuts = statistics.quantiles(samples, n=100, method="inclusive")
            p50, p95 = cuts[49], cuts[94]
        error = self.last_error
        return {
            "name": self.config.name,
            "label": self.config.label,
            "flavor": self.config.flavor.value,
            "url": self.config.url,
            "state": self.state(now).value,
            "circuit": self.circuit.state.value,
            "consecutive_failures": self.circuit.consecutive_failures,
            "last_success": iso(self.last_success),
            "last_error": None
            if error is None
            else {"at": iso(error.at), "reason": error.reason.value, "message": error.message},
            "last_probe": iso(self.last_probe),
            "latency_ms": {
                "p50": None if p50 is None else round(p50 * 1000, 1),
                "p95": None if p95 is None else round(p95 * 1000, 1),
                "samples": len(samples),
            },
            "calls": self.calls,
            "failures": self.failures,
            "harvest": None,
        }


class Monitor:
    """Health of every configured upstream, by name, in configuration order."""

    def __init__(self, config: GatewayConfig, metrics: Metrics) -> None:
        self.metrics = metrics
        self.upstreams: dict[str, UpstreamHealth] = {}
        self.on_circuit_open: Callable[[str], None] | None = None
        """Called with the upstream's name when its circuit opens (the prober's wake-up)."""
        self.sync(config)

    def sync(self, config: GatewayConfig) -> None:
        """Follow a (new) configuration: add, drop and reconfigure upstreams by name.

        An upstream whose URL or flavor changed starts with a clean history.
        """
        kept: dict[str, UpstreamHealth] = {}
        for entry in config.upstreams:
            health = self.upstreams.get(entry.name)
            if health is None or (health.config.url, health.config.flavor) != (
                entry.url,
                entry.flavor,
            ):
                health = UpstreamHealth(entry, config)
            else:
                health.reconfigure(entry, config)
            kept[entry.name] = health
            self.metrics.set_circuit(entry.name, health.circuit.state)
        for name in self.upstreams.keys() - kept.keys():
            self.metrics.forget_upstream(name)
        self.upstreams = kept

    def watch(self, upstreams: Sequence[Upstream]) -> None:
        """Become the observer of these upstream clients (a new federation's)."""
        for upstream in upstreams:
            upstream.observer = self

    # -- CallObserver ----------------------------------------------------------

    def admit(self, upstream: str, *, probe: bool) -> None:
        health = self.upstreams.get(upstream)
        if health is None:
            return
        before = health.circuit.state
        if not health.circuit.admits(time.monotonic(), probe=probe):
            self.metrics.upstream_calls.labels(upstream, Outcome.CIRCUIT_OPEN.value).inc()
            raise UpstreamCircuitOpen(
                upstream, "skipped: it failed repeatedly and its circuit is open"
            )
        if health.circuit.state is not before:
            log.info("circuit of upstream %s is half-open: making one trial call", upstream)
            self.metrics.set_circuit(upstream, health.circuit.state)

    def record(self, call: CallOutcome) -> None:
        outcome = call.outcome.value
        self.metrics.upstream_calls.labels(call.upstream, outcome).inc()
        self.metrics.upstream_duration.labels(call.upstream, outcome).observe(call.seconds)
        health = self.upstreams.get(call.upstream)
        if health is None:
            return  # a client of a configuration that a reload replaced
        now, mono = time.time(), time.monotonic()
        health.calls += 1
        if call.probe:
            health.last_probe = now
        if call.answered:
            health.latencies.append(call.seconds)
        before = health.circuit.state
        if call.outcome.failed:
            health.failures += 1
            health.last_failure_mono = mono
            if call.error is not None:
                health.last_error = LastError(now, call.outcome, call.error.detail)
            health.circuit.failed(mono)
        else:
            health.last_success = now
            health.circuit.succeeded()
        after = health.circuit.state
        if after is not before:
            self.metrics.set_circuit(call.upstream, after)
            if after is Circuit.OPEN:
                log.warning(
                    "circuit of upstream %s opened after %d consecutive failure(s) "
                    "(last: %s); skipping it for %gs",
                    call.upstream,
                    health.circuit.consecutive_failures,
                    call.error.detail if call.error else outcome,
                    health.circuit.cooldown,
                )
                if self.on_circuit_open is not None:
                    self.on_circuit_open(call.upstream)
            else:
                log.info("circuit of upstream %s closed: it answered again", call.upstream)

    # -- reading -----------------------------------------------------------------

    def seconds_to_trial(self, upstream: str) -> float | None:
        health = self.upstreams.get(upstream)
        return None if health is None else health.circuit.seconds_to_trial(time.monotonic())

    def reports(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [health.report(now) for health in self.upstreams.values()]
