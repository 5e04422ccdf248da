"""How one upstream call is reported, and who may stop a call before it is made.

Every call to an upstream goes through :meth:`Upstream.request
<gateway.upstream.base.Upstream.request>`, which asks its :class:`CallObserver`
whether the call may go ahead (the circuit breaker says no while it is open)
and reports a :class:`CallOutcome` when the call ends. The application's
monitor (:class:`gateway.ops.monitor.Monitor`) is the observer in a running
gateway; a bare :class:`Upstream` uses :class:`NullObserver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import Outcome, UpstreamError

__all__ = ["CallObserver", "CallOutcome", "NullObserver", "Outcome"]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One finished (or refused) call to one upstream."""

    upstream: str
    outcome: Outcome
    seconds: float
    """Wall time the call took; 0 for a call the circuit breaker refused."""
    answered: bool
    """Whether an HTTP answer (of any status) came back, so ``seconds`` is a latency."""
    probe: bool = False
    """Made by the background health probe rather than for a client."""
    error: UpstreamError | None = None
    """The failure, for outcomes that count as one."""


class CallObserver(Protocol):
    """What :meth:`Upstream.request` reports to."""

    def admit(self, upstream: str, *, probe: bool) -> None:
        """Raise :class:`~gateway.errors.UpstreamCircuitOpen` if the call must not be made."""

    def record(self, call: CallOutcome) -> None:
        """Take note of a finished call."""


class NullObserver:
    """Admits every call and records nothing: for upstreams outside a running gateway."""

    def admit(self, upstream: str, *, probe: bool) -> None:
        return None

    def record(self, call: CallOutcome) -> None:
        return None
