"""The circuit breaker of one upstream.

* **closed**: every call is made. Each failed call (timeout, connection
  failure, 5xx, unparseable answer) adds one to ``consecutive_failures``; any
  successful call (including a 404 or another 4xx) resets it. At
  ``federation.circuit_failures`` consecutive failures the circuit opens.
* **open**: no call is made; each is refused at once with
  :class:`~gateway.errors.UpstreamCircuitOpen` (reason ``circuit-open``) for
  ``federation.circuit_cooldown`` seconds.
* **half-open**: the cool-down is over and the background probe is making the
  one trial call. Client calls are still refused. If the trial succeeds the
  circuit closes; if it fails it opens for another cool-down.

A call that was already under way when the circuit opened and then succeeds
closes it too: the upstream answered.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Circuit", "CircuitBreaker"]


class Circuit(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half-open"
    OPEN = "open"

    @property
    def gauge_value(self) -> int:
        """0 closed, 1 half-open, 2 open: the value of the circuit state gauge."""
        return _GAUGE[self]


_GAUGE = {Circuit.CLOSED: 0, Circuit.HALF_OPEN: 1, Circuit.OPEN: 2}


class CircuitBreaker:
    """State and transitions; the caller supplies the (monotonic) time."""

    def __init__(self, failures_to_open: int, cooldown: float) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown = cooldown
        self.state = Circuit.CLOSED
        self.consecutive_failures = 0
        self.retry_at = 0.0
        """When an open circuit lets its trial call through."""

    def admits(self, now: float, *, probe: bool) -> bool:
        """Whether a call may be made now; a probe after the cool-down becomes the trial."""
        if self.state is Circuit.CLOSED:
            return True
        if probe and now >= self.retry_at:
            self.state = Circuit.HALF_OPEN
            return True
        return False

    def succeeded(self) -> None:
        self.consecutive_failures = 0
        self.state = Circuit.CLOSED

    def failed(self, now: float) -> None:
        self.consecutive_failures += 1
        if self.state is Circuit.HALF_OPEN or (
            self.state is Circuit.CLOSED and self.consecutive_failures >= self.failures_to_open
        ):
            self.state = Circuit.OPEN
            self.retry_at = now + self.cooldown

    def seconds_to_trial(self, now: float) -> float | None:
        """Seconds until an open circuit's trial call is due; ``None`` unless open."""
        if self.state is not Circuit.OPEN:
            return None
        return max(0.0, self.retry_at - now)
