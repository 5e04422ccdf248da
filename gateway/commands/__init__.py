"""The operator commands behind ``trs-gateway cache ...`` and ``trs-gateway identity ...``.

They work on what running gateways share through Redis, so each opens its own
:class:`~gateway.store.RedisStore` (:func:`open_store`) with a patient timeout.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..config import GatewayConfig
from ..store import KeySpace, RedisStore

__all__ = ["open_store"]

COMMAND_TIMEOUT = 5.0
"""Least time an operator command gives each Redis call."""


@asynccontextmanager
async def open_store(config: GatewayConfig) -> AsyncIterator[RedisStore]:
    """The shared Redis of ``config``; a ``RuntimeError`` when none is configured."""
    if not config.cache.redis_url:
        raise RuntimeError(
            "no cache.redis_url is configured: each gateway process has only its own "
            "in-process cache and identity index; there is nothing shared to work on"
        )
    store = RedisStore(
        config.cache.redis_url,
        KeySpace(config.cache.key_prefix),
        timeout=max(config.cache.redis_timeout, COMMAND_TIMEOUT),
        pool_size=4,
        client_name=f"trs-gateway-cli-{os.getpid()}",
    )
    try:
        yield store
    finally:
        await store.close()
