"""Benchmark: how long other clients wait while the gateway digests a huge upstream answer.

A registry answers a tool of ``--versions`` versions (100,000 by default, about 22 MB
of JSON), and a listing of as many tools. A real ``trs-gateway serve`` process (so
its cycle-collector tuning applies) fetches each of them cold while this process
asks ``/health`` every 10 ms; the figure is the slowest ``/health`` answer.

    python -m bench.loop_stall [--versions 100000]

Target: ``/health`` never waits more than about a quarter of a second. What is
left is mostly the JSON parse itself (one library call holding the interpreter
lock, about 0.15 s for 22 MB); validation, presentation and serialisation run in
batches that yield to the event loop (``gateway/yielding.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

TARGET_WORST_HEALTH_MS = 250.0


def version(tool_id: str, i: int) -> dict[str, Any]:
    return {
        "id": str(i),
        "name": f"v{i}",
        "url": f"http://registry/tools/{tool_id}/versions/{i}",
        "descriptor_type": ["CWL"],
        "author": [],
        "images": [],
        "is_production": False,
        "verified": False,
        "verified_source": [],
        "signed": False,
        "containerfile": False,
        "included_apps": [],
    }


def tool(tool_id: str, versions: int) -> dict[str, Any]:
    return {
        "id": tool_id,
        "url": f"http://registry/tools/{tool_id}",
        "name": tool_id,
        "toolclass": {"id": "w", "name": "Workflow", "description": ""},
        "versions": [version(tool_id, i) for i in range(versions)],
        "aliases": [],
        "organization": "o",
        "description": "d",
        "has_checker": False,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def registry(count: int) -> tuple[web.AppRunner, str]:
    big = tool("T", count)
    bodies = {
        "/tools/T": orjson.dumps(big),
        "/tools/T/versions": orjson.dumps(big["versions"]),
        "/tools": orjson.dumps([tool(f"L{i}", 1) for i in range(count)]),
    }

    async def answer(request: web.Request) -> web.Response:
        body = bodies.get(request.path, b"{}")
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def worst_health_during(session: aiohttp.ClientSession, base: str, path: str) -> str:
    request = asyncio.ensure_future(session.get(base + path))
    started = time.monotonic()
    worst, asked = 0.0, 0
    while not request.done():
        before = time.monotonic()
        async with session.get(base + "/health") as health:
            await health.read()
        worst = max(worst, time.monotonic() - before)
        asked += 1
        await asyncio.sleep(0.01)
    response = await request
    await response.read()
    verdict = "ok" if worst * 1000 <= TARGET_WORST_HEALTH_MS else "OVER TARGET"
    return (
        f"{path:<45} {response.status} in {time.monotonic() - started:5.2f}s; "
        f"/health asked {asked:3d} times, slowest {worst * 1000:4.0f} ms "
        f"(target {TARGET_WORST_HEALTH_MS:.0f} ms: {verdict})"
    )


async def main(count: int) -> None:
    upstream, url = await registry(count)
    port = free_port()
    config = {
        "upstreams": [{"name": "big", "url": url, "timeout": 120}],
        "identity": {"harvest": {"enabled": False}},
        "federation": {"budget": 300, "deadline": 60, "max_limit": 1000},
        "logging": {"access_log": False},
    }
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "gateway.yaml"
        path.write_text(json.dumps(config))
        gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--config", str(path),
            "--port", str(port), stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:
                for _ in range(200):
                    try:
                        async with s.get(base + "/health") as ready:
                            if ready.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
                for target in (
                    "/ga4gh/trs/v2/tools/big%3AT",
                    "/ga4gh/trs/v2/tools/big%3AT/versions",
                    "/ga4gh/trs/v2/tools?limit=1000",
                ):
                    print(await worst_health_during(s, base, target), flush=True)
        finally:
            gateway.terminate()
            await gateway.wait()
            await upstream.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().versions))
