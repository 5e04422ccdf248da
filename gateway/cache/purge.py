"""Purges: what ``trs-gateway cache purge`` announces, and how a running gateway applies it.

The command deletes the matching answers from Redis and publishes a
:class:`PurgeRequest` on the purge channel; every running gateway follows the
channel (:class:`PurgeFollower`) and drops its in-process copies too.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ..background import Supervised
from ..store import RedisStore, RedisUnavailable
from .tiered import TieredCache

__all__ = ["PurgeFollower", "PurgeRequest"]

RETRY = 2.0
"""Seconds before subscribing again after Redis went away."""


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """Everything (both ``None``), one upstream, or one tool of it."""

    upstream: str | None = None
    tool: str | None = None

    def message(self) -> bytes:
        return orjson.dumps({"upstream": self.upstream, "tool": self.tool})

    @classmethod
    def parse(cls, data: bytes | str) -> PurgeRequest | None:
        try:
            body = orjson.loads(data)
            return cls(body.get("upstream"), body.get("tool"))
        except (orjson.JSONDecodeError, AttributeError):
            return None


class PurgeFollower:
    """Applies every purge announced on the channel to this process's memory tier."""

    def __init__(self, store: RedisStore, cache: TieredCache) -> None:
        self.store = store
        self.cache = cache
        self.task = Supervised(
            "purge-subscription",
            self._follow,
            retry_min=RETRY,
            retry_max=RETRY * 8,
            expected=(RedisUnavailable,),
        )

    async def _follow(self) -> float:
        async for data in self.store.purges():
            request = PurgeRequest.parse(data)
            if request is not None:
                self.cache.drop_local(request.upstream, request.tool)
        return 0.0  # the subscription ended: subscribe again

    def start(self) -> None:
        self.task.start()

    async def close(self) -> None:
        await self.task.stop()
