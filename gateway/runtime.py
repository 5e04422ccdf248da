"""What a configuration reload replaces: the configuration and the federation built from it.

Handlers read ``request.config_dict[RUNTIME]`` once per request and keep the
objects they got, so a request that started before a reload finishes on the
old upstream clients while new requests use the new ones. The access
middleware counts the requests served while each federation is current
(:meth:`Runtime.serving`), so a reload can close the old one once none is
left (:meth:`Runtime.drained`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from .config import GatewayConfig
from .federation.core import Federation

__all__ = ["Runtime"]


class Runtime:
    """The configuration in force and, once started, its :class:`Federation`."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._federation: Federation | None = None
        self._in_flight: dict[Federation, int] = {}
        self._idle: dict[Federation, asyncio.Event] = {}

    @property
    def federation(self) -> Federation:
        if self._federation is None:
            raise RuntimeError("the federation is not started yet")
        return self._federation

    def install(self, federation: Federation) -> Federation | None:
        """Make ``federation`` (and its configuration) current; return the one it replaces."""
        previous = self._federation
        self._federation = federation
        self.config = federation.config
        return previous

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request against the federation current when it starts.

        Handlers may pick up a newer federation than the one counted, never an
        older one, so waiting for a federation's count to drop to zero is safe.
        """
        federation = self._federation
        if federation is None:
            yield
            return
        self._in_flight[federation] = self._in_flight.get(federation, 0) + 1
        try:
            yield
        finally:
            left = self._in_flight[federation] - 1
            if left:
                self._in_flight[federation] = left
            else:
                del self._in_flight[federation]
                idle = self._idle.pop(federation, None)
                if idle is not None:
                    idle.set()

    def in_flight(self, federation: Federation) -> int:
        return self._in_flight.get(federation, 0)

    async def drained(self, federation: Federation) -> None:
        """Return once no request counted against ``federation`` is in flight."""
        if not self._in_flight.get(federation):
            return
        idle = self._idle.setdefault(federation, asyncio.Event())
        await idle.wait()
