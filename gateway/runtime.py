"""What a configuration reload replaces: a *generation*, the configuration and its federation.

A request takes the generation in force once, when it arrives (the access
middleware does, into :data:`GENERATION`), and uses it from start to end, so
one request never mixes two configurations across a reload. The runtime counts
the requests served by each generation (:meth:`Runtime.serving`), so a reload
can close the federation it replaced once none is left (:meth:`Runtime.drained`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web

from .config import GatewayConfig
from .federation.core import Federation

__all__ = ["GENERATION", "Generation", "Runtime"]


@dataclass(frozen=True, slots=True, eq=False)
class Generation:
    """One configuration and the federation built from it."""

    config: GatewayConfig
    federation: Federation
    number: int = field(default=0)


GENERATION = web.RequestKey("generation", Generation)
"""The generation serving a request, set once by the access middleware."""


class Runtime:
    """The generation in force; :meth:`install` replaces it."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        """The configuration in force (also before the first federation is started)."""
        self._generation: Generation | None = None
        self._numbers = itertools.count(1)
        self._in_flight: dict[Generation, int] = {}
        self._idle: dict[Generation, asyncio.Event] = {}

    def current(self) -> Generation:
        """The generation in force; read once per request."""
        if self._generation is None:
            raise RuntimeError("the gateway is not started yet")
        return self._generation

    def install(self, federation: Federation) -> Generation | None:
        """Make ``federation`` (and its configuration) current; return the generation it
        replaces."""
        previous = self._generation
        self._generation = Generation(federation.config, federation, next(self._numbers))
        self.config = federation.config
        return previous

    @contextlib.contextmanager
    def serving(self, generation: Generation) -> Iterator[None]:
        """Count one request against ``generation`` while it is served."""
        self._in_flight[generation] = self._in_flight.get(generation, 0) + 1
        try:
            yield
        finally:
            left = self._in_flight[generation] - 1
            if left:
                self._in_flight[generation] = left
            else:
                del self._in_flight[generation]
                idle = self._idle.pop(generation, None)
                if idle is not None:
                    idle.set()

    def in_flight(self, generation: Generation) -> int:
        return self._in_flight.get(generation, 0)

    async def drained(self, generation: Generation) -> None:
        """Return once no request counted against ``generation`` is in flight."""
        if not self._in_flight.get(generation):
            return
        idle = self._idle.setdefault(generation, asyncio.Event())
        await idle.wait()
