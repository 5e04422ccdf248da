"""What ``trs-gateway identity ...`` does: harvest now, report, look a value up.

The commands work on the shared index in Redis, the one running gateways load
and keep in sync, so they need ``cache.redis_url``. ``harvest`` walks the
catalogues in the foreground with a progress bar; it takes the same per-upstream
locks as the gateways' background harvesters and resumes from the same saved
positions, so it can run beside them, or be interrupted and run again.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TextIO

from tqdm import tqdm

from ..cache import RedisTier, TieredCache
from ..config import GatewayConfig
from ..federation.core import Federation, build_federation
from .harvest import Progress

__all__ = ["harvest", "lookup", "stats"]


@asynccontextmanager
async def _shared_federation(config: GatewayConfig) -> AsyncIterator[Federation]:
    """A federation over ``config`` whose identity index is loaded from Redis."""
    if not config.cache.redis_url:
        raise RuntimeError(
            "no cache.redis_url is configured: the identity index then lives inside each "
            "gateway process, which harvests by itself; there is no shared index to work on"
        )
    redis = RedisTier(config.cache.redis_url, timeout=max(config.cache.redis_timeout, 5.0))
    cache = TieredCache(config.cache, redis)
    federation = build_federation(config, cache)
    try:
        if not await federation.identity.load():
            raise RuntimeError(
                f"Redis at {config.cache.redis_url} is not answering: {redis.state.last_error}"
            )
        yield federation
    finally:
        await federation.identity.flush()
        await federation.close()
        await cache.close()


async def harvest(
    config: GatewayConfig, upstream: str | None = None, out: TextIO = sys.stderr
) -> dict[str, Progress]:
    """Walk every harvested upstream's catalogue (or just ``upstream``'s) now."""
    if upstream is not None and config.upstream(upstream) is None:
        names = ", ".join(u.name for u in config.upstreams)
        raise RuntimeError(f"no upstream named {upstream!r}; configured: {names}")
    done: dict[str, Progress] = {}
    async with _shared_federation(config) as federation:
        harvester = federation.harvester
        for target in federation.upstreams:
            if upstream is not None and target.name != upstream:
                continue
            if not target.config.harvest:
                print(f"{target.name}: harvest: false in the configuration; skipped", file=out)
                continue
            if not await harvester.lock(target.name):
                print(f"{target.name}: another process is harvesting it now; skipped", file=out)
                continue
            try:
                saved = await harvester.load(target.name)
                already = saved.seen if saved.position else 0
                with tqdm(unit="tool", file=out, desc=target.name, initial=already) as bar:

                    def advance(count: int) -> None:
                        bar.update(count)

                    done[target.name] = await harvester.walk(target, saved, on_page=advance)
            finally:
                await harvester.unlock(target.name)
        report = federation.identity.report()
    print(f"identity index: {report['tools']} tools, {report['groups']} groups", file=out)
    return done


async def stats(config: GatewayConfig) -> dict[str, Any]:
    """Size of the shared index and each upstream's harvest progress."""
    async with _shared_federation(config) as federation:
        upstreams = {}
        for upstream in federation.upstreams:
            progress = await federation.harvester.load(upstream.name)
            upstreams[upstream.name] = progress.report()
        return {**federation.identity.report(), "upstreams": upstreams}


async def lookup(config: GatewayConfig, value: str) -> dict[str, Any]:
    """The tools ``value`` names in any spelling, each with its identity keys."""
    async with _shared_federation(config) as federation:
        identity = federation.identity
        found = identity.resolve(value)
        return {
            "value": value,
            "tools": [{"id": gid, "aliases": identity.aliases(gid)} for gid in found],
        }
