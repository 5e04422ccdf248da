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
from dataclasses import dataclass
from typing import Any, TextIO

from tqdm import tqdm

from ..config import GatewayConfig, load_crosswalk
from ..errors import GatewayError
from ..federation.core import Federation, build_federation
from ..index import Harvester, Identity, Progress
from . import open_store

__all__ = ["HarvestIncomplete", "harvest", "lookup", "stats"]


class HarvestIncomplete(Exception):
    """Some upstreams could not be harvested; the others were."""

    def __init__(self, failed: dict[str, str]) -> None:
        super().__init__(
            "could not harvest " + "; ".join(f"{name}: {why}" for name, why in failed.items())
        )
        self.failed = failed


@dataclass(slots=True)
class _Shared:
    identity: Identity
    harvester: Harvester
    federation: Federation


@asynccontextmanager
async def _shared_index(config: GatewayConfig) -> AsyncIterator[_Shared]:
    """The shared identity index of ``config``, loaded from Redis, with a harvester and
    upstream clients to fill it."""
    async with open_store(config) as store:
        identity = Identity([u.name for u in config.upstreams], load_crosswalk(config), store)
        federation = build_federation(config, identity)
        harvester = Harvester(
            identity,
            lambda: federation.by_name,
            config.identity.harvest,
            config.upstreams,
            store,
        )
        try:
            if not await identity.load():
                raise RuntimeError(
                    f"Redis at {config.cache.redis_url} is not answering: {store.state.last_error}"
                )
            yield _Shared(identity, harvester, federation)
        finally:
            await identity.flush()
            await federation.close()


async def harvest(
    config: GatewayConfig, upstream: str | None = None, out: TextIO = sys.stderr
) -> dict[str, Progress]:
    """Walk every harvested upstream's catalogue (or just ``upstream``'s) now.

    An upstream that fails does not stop the others: each is walked, and
    :class:`HarvestIncomplete` then names every one that failed.
    """
    if upstream is not None and config.upstream(upstream) is None:
        names = ", ".join(u.name for u in config.upstreams)
        raise RuntimeError(f"no upstream named {upstream!r}; configured: {names}")
    done: dict[str, Progress] = {}
    failed: dict[str, str] = {}
    async with _shared_index(config) as shared:
        harvester = shared.harvester
        for target in config.upstreams:
            if upstream is not None and target.name != upstream:
                continue
            if not target.harvest:
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

                    done[target.name] = await harvester.walk(target.name, saved, on_page=advance)
            except GatewayError as exc:
                failed[target.name] = exc.message
                print(f"{target.name}: failed: {exc.message}", file=out)
            finally:
                await harvester.unlock(target.name)
        report = shared.identity.report()
    print(f"identity index: {report['tools']} tools, {report['groups']} groups", file=out)
    if failed:
        raise HarvestIncomplete(failed)
    return done


async def stats(config: GatewayConfig) -> dict[str, Any]:
    """Size of the shared index and each upstream's harvest progress."""
    async with _shared_index(config) as shared:
        upstreams = {}
        for upstream in config.upstreams:
            progress = await shared.harvester.load(upstream.name)
            upstreams[upstream.name] = progress.report()
        report = shared.identity.report()
        report.pop("sync", None)
        return {**report, "upstreams": upstreams}


async def lookup(config: GatewayConfig, value: str) -> dict[str, Any]:
    """The tools ``value`` names in any spelling, each with its identity keys."""
    async with _shared_index(config) as shared:
        identity = shared.identity
        found = identity.resolve(value)
        return {
            "value": value,
            "tools": [{"id": gid, "aliases": identity.aliases(gid)} for gid in found],
        }
