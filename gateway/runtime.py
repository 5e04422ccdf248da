"""What a configuration reload replaces: the configuration and the federation built from it.

Handlers read ``request.config_dict[RUNTIME]`` once per request and keep the
objects they got, so a request that started before a reload finishes on the
old upstream clients while new requests use the new ones.
"""

from __future__ import annotations

from .config import GatewayConfig
from .federation.core import Federation

__all__ = ["Runtime"]


class Runtime:
    """The configuration in force and, once started, its :class:`Federation`."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._federation: Federation | None = None

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
