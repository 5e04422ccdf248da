"""What ``trs-gateway cache ...`` does: purge, warm, and report on the cache.

Purging deletes the matching Redis keys and announces the purge on the
``<prefix>:v1:purge`` channel, so every running gateway drops its in-process
copies too. Warming runs the gateway in this process on a loopback port and
fetches every descriptor of a listing through it, so the entries are exactly
what a client request would have stored, shared through Redis.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, TextIO
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from tqdm import tqdm

from ..app import create_app
from ..cache.purge import PurgeRequest
from ..config import GatewayConfig
from ..ids import split_id
from . import open_store

__all__ = ["cache_stats", "purge", "purge_target", "warm"]


def purge_target(config: GatewayConfig, upstream: str | None, tool: str | None) -> PurgeRequest:
    """Validate ``--upstream`` / ``--tool`` (a namespaced gateway id) into a request."""
    names = {u.name for u in config.upstreams}
    if tool is not None:
        ref = split_id(tool, names)
        if ref.upstream is None:
            prefix, colon, _ = tool.partition(":")
            if upstream is None and colon and not prefix.startswith("#"):
                raise ValueError(
                    f"--tool {tool!r}: no upstream named {prefix!r}; configured: "
                    f"{', '.join(sorted(names))}"
                )
            if upstream is None:
                raise ValueError(f"--tool {tool!r} needs a namespace (<upstream>:<id>)")
            return PurgeRequest(upstream, tool)
        if upstream is not None and upstream != ref.upstream:
            raise ValueError(f"--tool {tool!r} belongs to {ref.upstream!r}, not {upstream!r}")
        return PurgeRequest(ref.upstream, ref.tool_id)
    if upstream is not None and upstream not in names:
        raise ValueError(f"no upstream named {upstream!r}; known: {sorted(names)}")
    return PurgeRequest(upstream, None)


async def purge(config: GatewayConfig, request: PurgeRequest) -> int:
    """Delete the matching entries from Redis and tell running gateways; return the count."""
    async with open_store(config) as store:
        deleted = await store.delete_answers(request.upstream, request.tool)
        await store.publish_purge(request.message())
        return deleted


async def cache_stats(config: GatewayConfig) -> dict[str, Any]:
    """Entries in Redis by answer class and by upstream, and Redis memory use."""
    by_class: Counter[str] = Counter()
    by_upstream: Counter[str] = Counter()
    async with open_store(config) as store:
        root = f"{store.keys.root}:c:"
        async for key in store.answer_keys():
            parts = key.removeprefix(root).split(":")
            by_class[parts[0]] += 1
            if parts[0] != "listing" and len(parts) > 1:
                by_upstream[unquote(parts[1])] += 1
        memory = await store.memory_used()
        locks = await store.fill_locks_held()
    return {
        "redis": config.cache.redis_url,
        "entries": sum(by_class.values()),
        "by_class": dict(sorted(by_class.items())),
        "by_upstream": dict(sorted(by_upstream.items())),
        "fill_locks_held": locks,
        "redis_used_memory": memory,
    }


async def _walk(session: aiohttp.ClientSession, base: str) -> AsyncIterator[dict[str, Any]]:
    url: str | None = f"{base}/tools?limit=200"
    while url:
        async with session.get(url) as response:
            response.raise_for_status()
            for tool in await response.json():
                yield tool
            url = response.headers.get("next_page")


def warming(config: GatewayConfig, upstream: str | None) -> GatewayConfig:
    """``config`` for the gateway ``cache warm`` runs: only ``upstream`` (when given),
    no harvest, probes once an hour."""
    upstreams = config.upstreams
    if upstream is not None:
        upstreams = [u for u in upstreams if u.name == upstream]
        if not upstreams:
            names = ", ".join(u.name for u in config.upstreams)
            raise ValueError(f"no upstream named {upstream!r}; configured: {names}")
    identity = config.identity.model_copy(
        update={"harvest": config.identity.harvest.model_copy(update={"enabled": False})}
    )
    health = config.health.model_copy(update={"probe_interval": 3600.0})
    return config.model_copy(
        update={"upstreams": upstreams, "identity": identity, "health": health}
    )


async def warm(
    config: GatewayConfig,
    upstream: str | None = None,
    limit: int | None = None,
    concurrency: int = 4,
    out: TextIO = sys.stderr,
) -> Counter[str]:
    """Fetch the files and descriptors of every listed tool through a local gateway.

    The local gateway serves the upstreams asked for (``upstream``, or all), with
    no harvest and no probes of its own: it warms the cache and does nothing else.
    """
    async with open_store(config):  # refuse early when there is nothing shared to warm
        pass
    app = create_app(warming(config, upstream))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}{config.server.base_paths[0]}"
    outcome: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def fetch(session: aiohttp.ClientSession, url: str) -> None:
        async with gate, session.get(url) as response:
            await response.read()
            outcome["fetched" if response.status == 200 else f"http {response.status}"] += 1

    async def warm_tool(session: aiohttp.ClientSession, tool: dict[str, Any]) -> None:
        for version in tool.get("versions", []):
            for language in version.get("descriptor_type", []):
                root = f"{version['url']}/{language}"
                plain = f"{version['url']}/PLAIN_{language}"
                async with gate, session.get(f"{root}/files") as response:
                    listing = await response.json() if response.status == 200 else []
                    outcome["fetched" if response.status == 200 else "no files"] += 1
                # Both forms clients ask for: the JSON wrapper and the raw file.
                await fetch(session, f"{root}/descriptor")
                await fetch(session, f"{plain}/descriptor")
                paths = [
                    f["path"]
                    for f in listing
                    if isinstance(f, dict)
                    and f.get("path")
                    and f.get("file_type") != "PRIMARY_DESCRIPTOR"
                    and "://" not in f["path"]
                ]
                await asyncio.gather(
                    *(
                        fetch(session, f"{prefix}/descriptor/{quote(p)}")
                        for p in paths
                        for prefix in (root, plain)
                    )
                )

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            tools: list[dict[str, Any]] = []
            async for tool in _walk(session, base):
                if upstream is None or str(tool.get("id", "")).startswith(f"{upstream}:"):
                    tools.append(tool)
                    if limit is not None and len(tools) >= limit:
                        break
            with tqdm(total=len(tools), unit="tool", file=out, desc="warming") as bar:
                for tool in tools:
                    await warm_tool(session, tool)
                    bar.update(1)
    finally:
        await runner.cleanup()
    outcome["tools"] = len(tools)
    return outcome
