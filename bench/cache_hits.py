"""Benchmark: descriptor answers from the cache versus from a slow upstream.

Runs a Dockstore-flavored fake upstream that takes ``--upstream-delay`` seconds
per answer (Dockstore's descriptor calls are many database queries), a gateway
in front of it (with Redis if ``--redis`` is given), and measures cold misses,
then warm hits at a given concurrency. Targets: a warm hit's p99 well under
the upstream's latency, and throughput in the thousands of requests per
second on a 2-core machine.

    python -m bench.cache_hits [--requests 5000] [--concurrency 50] [--redis redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from urllib.parse import quote

import aiohttp
from aiohttp import web

from gateway.app import create_app
from gateway.config import GatewayConfig
from tests.fakes import FakeTool, make_registry_app
from tests.samples import cwl_workflow_version

TARGET_HIT_P99_MS = 40.0
"""A fifth of the simulated upstream's 200 ms, measured at 50 concurrent clients."""
TARGET_HITS_PER_SECOND = 1000.0


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


def tools(count: int) -> list[FakeTool]:
    return [
        FakeTool(id=f"#workflow/github.com/bench/wf-{i}", versions=[cwl_workflow_version("main")])
        for i in range(count)
    ]


async def run_servers(args: argparse.Namespace, ports: Queue[int], stop: Event) -> None:
    """The upstream and the gateway, in a process of their own (the load is elsewhere)."""
    upstream = make_registry_app("dockstore", tools(args.tools), delay=args.upstream_delay)
    up_runner, up_port = await serve(upstream.app)
    cache = {"redis_url": args.redis, "key_prefix": f"trsgw-bench-{time.time_ns()}"}
    config = GatewayConfig.model_validate(
        {
            "upstreams": [
                {
                    "name": "dockstore",
                    "url": f"http://127.0.0.1:{up_port}/api/ga4gh/trs/v2",
                    "flavor": "dockstore",
                }
            ],
            "cache": cache,
        }
    )
    gw_runner, gw_port = await serve(create_app(config))
    ports.put(gw_port)
    # A multiprocessing event cannot be awaited; wait for it off the event loop.
    await asyncio.to_thread(stop.wait)
    ports.put(upstream.request_count("/CWL/descriptor"))
    await gw_runner.cleanup()
    await up_runner.cleanup()


def server_process(args: argparse.Namespace, ports: Queue[int], stop: Event) -> None:
    asyncio.run(run_servers(args, ports, stop))


async def main(args: argparse.Namespace) -> int:
    ports: Queue[int] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    process = multiprocessing.Process(target=server_process, args=(args, ports, stop))
    process.start()
    gw_port = ports.get(timeout=30)
    urls = [
        f"http://127.0.0.1:{gw_port}/ga4gh/trs/v2/tools/{quote('dockstore:' + t.id, safe='')}"
        "/versions/main/PLAIN_CWL/descriptor"
        for t in tools(args.tools)
    ]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        cold = []
        for url in urls:
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            cold.append(time.perf_counter() - started)

        latencies: list[float] = []
        gate = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> None:
            async with gate:
                started = time.perf_counter()
                async with session.get(urls[i % len(urls)]) as response:
                    await response.read()
                    assert response.headers["X-Cache"] == "HIT"
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.requests)))
        elapsed = time.perf_counter() - started
    stop.set()
    upstream_requests = ports.get(timeout=30)
    process.join(30)

    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    rate = args.requests / elapsed
    print(f"upstream delay      {args.upstream_delay * 1000:8.1f} ms")
    print(f"cold miss (median)  {statistics.median(cold) * 1000:8.1f} ms")
    print(f"warm hit p50        {p50:8.2f} ms  (concurrency {args.concurrency})")
    print(f"warm hit p99        {p99:8.2f} ms  target < {TARGET_HIT_P99_MS} ms")
    print(f"warm hits / second  {rate:8.0f}     target > {TARGET_HITS_PER_SECOND:.0f}")
    print(f"upstream descriptor requests: {upstream_requests} (one per tool)")
    ok = p99 < TARGET_HIT_P99_MS and rate > TARGET_HITS_PER_SECOND
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tools", type=int, default=20)
    parser.add_argument("--upstream-delay", type=float, default=0.2)
    parser.add_argument("--redis", default=None)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
