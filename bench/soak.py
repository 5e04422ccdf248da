"""Soak: mixed load on ``serve --workers 2`` with Redis, upstream faults and a Redis restart.

    python -m bench.soak [--minutes 10] [--concurrency 20]

Three lean upstreams (``bench/upstream.py``); every 30 s one of them, at random, starts
failing (HTTP 500) or hanging, or recovers. Halfway through, Redis is stopped and
started again. The load mixes cached descriptors, uncached descriptors, listings and
alias lookups. Every minute it prints requests, answers by status, p99, and each
worker's RSS and open descriptors; it ends with a verdict line:

* no 5xx but the documented upstream-failure answers (502, 503, 504);
* RSS and open descriptors flat after warm-up: in the last minute, RSS within 25 % of the
  second minute's, and descriptors no more than 32 above the most any earlier minute
  after the first had (connections to a hanging upstream come and go; a leak only grows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.__main__ import BASE, PYTHON, free_port, process, upstream

UPSTREAM_FAILURES = {502, 503, 504}


def worker_pids(supervisor: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def usage(pid: int) -> tuple[int, int]:
    """RSS in KiB and open descriptors of ``pid``."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def redis_on(port: int) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.5)
    return child


async def main(minutes: float, concurrency: int) -> int:
    redis_port = free_port()
    redis = await redis_on(redis_port)
    ports = [free_port() for _ in range(3)]
    port = free_port()
    config = {
        "upstreams": [
            {"name": f"up{i}", "url": f"http://127.0.0.1:{p}", "timeout": 2}
            for i, p in enumerate(ports)
        ],
        "cache": {"redis_url": f"redis://127.0.0.1:{redis_port}/0"},
        "federation": {"deadline": 2, "budget": 5},
        "identity": {"harvest": {"enabled": True, "pause": 0.5, "interval": 60}},
        "logging": {"access_log": False},
    }
    minute_stats: list[dict[str, object]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        stack = [
            process(*upstream(p, delay=0.05, tools=2000), port=p, path="/service-info")
            for p in ports
        ]
        for context in stack:
            await context.__aenter__()
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "gateway.yaml"
            path.write_text(json.dumps(config))
            argv = [PYTHON, "-m", "gateway", "serve", "--config", str(path)]
            argv += ["--port", str(port), "--workers", "2"]
            async with process(*argv, port=port, path="/health") as gateway:
                statuses: Counter[int] = Counter()
                latencies: list[float] = []
                stop_at = time.monotonic() + minutes * 60
                uncached = iter(range(100, 2000))

                def pick() -> str:
                    roll = random.random()
                    up = random.randrange(3)
                    if roll < 0.6:
                        tool = random.randrange(50)
                    elif roll < 0.8:
                        tool = next(uncached, random.randrange(2000))
                    elif roll < 0.9:
                        return f"{BASE}/tools?limit=50&name=tool%20{random.randrange(200)}"
                    else:
                        return f"{BASE}/tools?alias=nothing-{random.randrange(20)}"
                    return f"{BASE}/tools/up{up}%3AT{tool:05d}/versions/1/PLAIN_CWL/descriptor"

                async def client() -> None:
                    while time.monotonic() < stop_at:
                        started = time.perf_counter()
                        try:
                            async with session.get(f"http://127.0.0.1:{port}{pick()}") as r:
                                await r.read()
                                statuses[r.status] += 1
                        except (aiohttp.ClientError, TimeoutError):
                            statuses[0] += 1
                        latencies.append(time.perf_counter() - started)

                async def faults() -> None:
                    while time.monotonic() < stop_at:
                        await asyncio.sleep(30)
                        target = random.choice(ports)
                        mode = random.choice(["ok", "ok", "error", "hang"])
                        async with session.get(
                            f"http://127.0.0.1:{target}/_bench/fault?mode={mode}"
                        ) as r:
                            await r.read()

                async def restart_redis() -> None:
                    nonlocal redis
                    await asyncio.sleep(minutes * 30)
                    redis.terminate()
                    await redis.wait()
                    await asyncio.sleep(3)
                    redis = await redis_on(redis_port)
                    print("-- Redis restarted", flush=True)

                async def report() -> None:
                    minute = 0
                    while time.monotonic() < stop_at:
                        await asyncio.sleep(60)
                        minute += 1
                        done, counts = list(latencies), dict(statuses)
                        latencies.clear()
                        statuses.clear()
                        done.sort()
                        p99 = done[int(len(done) * 0.99) - 1] * 1000 if done else 0.0
                        workers = {pid: usage(pid) for pid in worker_pids(gateway.pid)}
                        minute_stats.append({"minute": minute, "statuses": counts,
                                             "p99_ms": p99, "workers": workers})  # fmt: skip
                        print(
                            f"minute {minute:2d}: {len(done):6d} requests {counts} "
                            f"p99 {p99:7.1f} ms; workers "
                            + ", ".join(
                                f"{pid}: {rss // 1024} MiB {fds} fds"
                                for pid, (rss, fds) in workers.items()
                            ),
                            flush=True,
                        )

                await asyncio.gather(
                    *(client() for _ in range(concurrency)), faults(), restart_redis(), report()
                )
        for context in stack:
            await context.__aexit__(None, None, None)
    redis.terminate()
    await redis.wait()
    return verdict(minute_stats)


def verdict(minutes: list[dict[str, object]]) -> int:
    bad = Counter[int]()
    for stats in minutes:
        for status, count in dict(stats["statuses"]).items():  # type: ignore[call-overload]
            if int(status) >= 500 and int(status) not in UPSTREAM_FAILURES:
                bad[int(status)] += count
    if len(minutes) < 3:
        print("VERDICT: too short to judge (needs 3 minutes)")
        return 1
    second, last = minutes[1]["workers"], minutes[-1]["workers"]
    growth = []
    for pid, (rss, fds) in dict(last).items():  # type: ignore[call-overload]
        before = dict(second).get(pid)  # type: ignore[call-overload]
        earlier = [
            dict(m["workers"]).get(pid, (0, 0))[1]  # type: ignore[call-overload]
            for m in minutes[1:-1]
        ]
        if before is not None:
            growth.append((rss / before[0], fds - max(earlier or [before[1]])))
    flat = bool(growth) and all(r <= 1.25 and f <= 32 for r, f in growth)
    ok = not bad and flat
    rss_growth = max((r for r, _ in growth), default=0.0)
    fd_growth = max((f for _, f in growth), default=0)
    p99s = [float(s["p99_ms"]) for s in minutes]  # type: ignore[arg-type]
    print(
        f"VERDICT: {'PASS' if ok else 'FAIL'}: unexpected 5xx {dict(bad) or 'none'}; "
        f"RSS x{rss_growth:.2f} from minute 2 to the last, descriptors {fd_growth:+d} "
        "against the most before; "
        f"median per-minute p99 {statistics.median(p99s):.0f} ms"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.minutes, args.concurrency)))
