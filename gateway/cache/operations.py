"""What ``trs-gateway cache ...`` does: purge, warm, and report on the cache.

Purging deletes the matching Redis keys and announces the purge on the
``<prefix>:v1:purge`` channel, so every running gateway drops its in-process
copies too. Warming runs the gateway in this process on a loopback port and
fetches every descriptor of a listing through it, so the entries are exactly
what a client request would have stored, shared through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote, unquote

import aiohttp
import orjson
from aiohttp import web
from tqdm import tqdm

from ..config import GatewayConfig
from ..federation.ids import split_id
from .keys import KeySpace
from .redis_tier import RedisTier

__all__ = ["PurgeRequest", "cache_stats", "purge", "subscribe_purges", "warm"]


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    upstream: str | None = None
    tool: str | None = None

    def message(self) -> str:
        return orjson.dumps({"upstream": self.upstream, "tool": self.tool}).decode()

    @classmethod
    def parse(cls, data: bytes | str) -> PurgeRequest | None:
        try:
            body = orjson.loads(data)
            return cls(body.get("upstream"), body.get("tool"))
        except (orjson.JSONDecodeError, AttributeError):
            return None


def _redis(config: GatewayConfig) -> RedisTier:
    if not config.cache.redis_url:
        raise RuntimeError(
            "no cache.redis_url is configured: each gateway process has only its own "
            "in-process cache, which empties on restart"
        )
    return RedisTier(config.cache.redis_url, timeout=max(config.cache.redis_timeout, 5.0))


def purge_target(config: GatewayConfig, upstream: str | None, tool: str | None) -> PurgeRequest:
    """Validate ``--upstream`` / ``--tool`` (a namespaced gateway id) into a request."""
    names = {u.name for u in config.upstreams}
    if tool is not None:
        ref = split_id(tool, names)
        if ref.upstream is None:
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
    redis = _redis(config)
    keys = KeySpace(config.cache.key_prefix)
    try:
        deleted = await redis.scan_delete(keys.pattern(request.upstream, request.tool))
        if request.upstream is None:
            deleted += await redis.scan_delete(f"{keys.root}:c:listing:*")
        await redis.client.publish(keys.purge_channel, request.message())
        return deleted
    finally:
        await redis.close()


async def subscribe_purges(
    redis: RedisTier, keys: KeySpace, on_purge: Any, retry: float = 2.0
) -> None:
    """Apply purge announcements to this process until cancelled; survives Redis outages."""
    while True:
        pubsub = redis.client.pubsub()
        try:
            await pubsub.subscribe(keys.purge_channel)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    parsed = PurgeRequest.parse(message["data"])
                    if parsed is not None:
                        on_purge(parsed)
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis went away: wait, then subscribe again.
            await asyncio.sleep(retry)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


async def cache_stats(config: GatewayConfig) -> dict[str, Any]:
    """Entries in Redis by answer class and by upstream, and Redis memory use."""
    redis = _redis(config)
    keys = KeySpace(config.cache.key_prefix)
    by_class: Counter[str] = Counter()
    by_upstream: Counter[str] = Counter()
    try:
        async for raw in redis.scan(f"{keys.root}:c:*"):
            parts = raw.decode().removeprefix(f"{keys.root}:c:").split(":")
            by_class[parts[0]] += 1
            if parts[0] != "listing" and len(parts) > 1:
                by_upstream[unquote(parts[1])] += 1
        info = await redis.client.info("memory")
        locks = [k async for k in redis.scan(f"{keys.root}:lock:*")]
    finally:
        await redis.close()
    return {
        "redis": config.cache.redis_url,
        "entries": sum(by_class.values()),
        "by_class": dict(sorted(by_class.items())),
        "by_upstream": dict(sorted(by_upstream.items())),
        "fill_locks_held": len(locks),
        "redis_used_memory": info.get("used_memory_human"),
    }


async def _walk(session: aiohttp.ClientSession, base: str) -> AsyncIterator[dict[str, Any]]:
    url: str | None = f"{base}/tools?limit=200"
    while url:
        async with session.get(url) as response:
            response.raise_for_status()
            for tool in await response.json():
                yield tool
            url = response.headers.get("next_page")


async def warm(
    config: GatewayConfig,
    upstream: str | None = None,
    limit: int | None = None,
    concurrency: int = 4,
    out: TextIO = sys.stderr,
) -> Counter[str]:
    """Fetch the files and descriptors of every listed tool through a local gateway."""
    from ..app import create_app

    _redis(config)  # refuse early when there is nothing shared to warm
    app = create_app(config)
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
