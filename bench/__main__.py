"""Every performance scenario in one go: ``python -m bench [--quick] [--json PATH]``.

Starts, on loopback, lean fake upstreams (``bench/upstream.py``) with the latency
and catalogue each scenario needs, a private ``redis-server``, ``trs-gateway
serve`` (1 or 2 workers) and a bare aiohttp server answering the same bytes as
the baseline. Throughput is measured with ``wrk`` (Debian package ``wrk``; one
thread, 50 connections); latencies with an aiohttp client. Each figure is
printed beside its target, and everything is written as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

PYTHON = sys.executable
BASE = "/ga4gh/trs/v2"


@dataclass
class Result:
    scenario: str
    measured: str
    target: str
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, path: str = "/", seconds: float = 30) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds / 0.05)):
            try:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing answers on port {port}")


@contextlib.asynccontextmanager
async def process(*argv: str, port: int | None, path: str = "/") -> AsyncIterator[Process]:
    """A child process, once it answers on ``port`` (not waited for when ``None``)."""
    child = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        if port is not None:
            await wait_for_port(port, path)
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
            child.terminate()
        try:
            await asyncio.wait_for(child.wait(), 20)
        except TimeoutError:
            child.kill()
            await child.wait()


def upstream(port: int, **options: Any) -> list[str]:
    argv = [PYTHON, "-m", "bench.upstream", "--port", str(port)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


@contextlib.asynccontextmanager
async def gateway(config: dict[str, Any], workers: int = 1) -> AsyncIterator[tuple[int, int]]:
    """A ``trs-gateway serve`` process on ``config``; yields its port and pid."""
    port = free_port()
    config = {
        "identity": {"harvest": {"enabled": False}},
        "health": {"probe_interval": 3600},
        **config,
    }
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "gateway.yaml"
        path.write_text(json.dumps(config))
        argv = [PYTHON, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)]
        if workers > 1:
            argv += ["--workers", str(workers)]
        async with process(*argv, port=port, path="/health") as child:
            await all_listening(port, workers)
            yield port, child.pid


async def all_listening(port: int, workers: int, seconds: float = 30) -> None:
    """Wait until ``workers`` processes answer on ``port``: each worker listens on its own
    socket once started, and a load test begun earlier would keep its connections on the
    first one."""
    seen: set[int] = set()
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection each time
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(int(seconds / 0.02)):
            _, _, body = await fetch(session, f"http://127.0.0.1:{port}/health")
            seen.add(int(json.loads(body)["pid"]))
            if len(seen) >= workers:
                return
            await asyncio.sleep(0.02)
    raise RuntimeError(f"only {len(seen)} of {workers} workers answer on port {port}")


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed (Debian package redis-server)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    async with process(*argv, port=None):
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            await asyncio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


def wrk(url: str, seconds: int, pause_ms: int = 0) -> tuple[float, float]:
    """Requests per second and p99 in ms, from ``wrk -t1 -c50``; with ``pause_ms``, each
    connection waits that long after an answer before asking again (a paced load)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (Debian package wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(f"delay = function() return {pause_ms} end\n" if pause_ms else "")
        script.flush()
        out = subprocess.run(
            ["wrk", "-t1", "-c50", f"-d{seconds}s", "--latency", "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, p99


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its children (workers), in KiB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()]  # fmt: skip
    for one in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def descriptor_url(port: int, tool: int) -> str:
    return f"http://127.0.0.1:{port}{BASE}/tools/up%3AT{tool:05d}/versions/1/PLAIN_CWL/descriptor"


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url) as response:
        return response.status, dict(response.headers), await response.read()


# -- scenarios -------------------------------------------------------------------------


HOT_TARGET = 0.70
"""Hot hits from memory must reach this share of bare aiohttp's requests/s."""
PER_RESPONSE = {"date", "server", "content-length", "connection", "transfer-encoding"}
"""Headers aiohttp writes itself on both servers."""


async def hot_hits(seconds: int, redis_url: str | None, rounds: int) -> list[Result]:
    """A hot descriptor, from memory and (memory off) from Redis, beside a bare server
    sending the same bytes (status line, headers, body): the two measured in turn
    ``rounds`` times, the medians compared (the machine is shared, so single runs vary
    by a fifth).

    Throughput is measured at saturation (50 connections asking back to back), where
    latency is queueing: 50 divided by the rate. The p99 target is measured at the load
    the throughput target asks for: each of the 50 connections pauses after an answer
    so that they offer at most 0.70 x bare's rate (whole milliseconds, rounded down).
    """
    up_port = free_port()
    results = []
    async with process(*upstream(up_port), port=up_port, path="/service-info"):
        entry = {"name": "up", "url": f"http://127.0.0.1:{up_port}"}
        cases: list[tuple[str, dict[str, Any], float]] = [("memory", {}, HOT_TARGET)]
        if redis_url:
            cases.append(("redis", {"redis_url": redis_url, "memory_entries": 0}, 0.40))
        for tier, cache, target in cases:
            async with gateway({"upstreams": [entry], "cache": cache}) as (port, _):
                url = descriptor_url(port, 1)
                async with aiohttp.ClientSession() as session:
                    await fetch(session, url)
                    await fetch(session, url)
                    status, headers, body = await fetch(session, url)
                sent = {k: v for k, v in headers.items() if k.lower() not in PER_RESPONSE}
                with (
                    tempfile.NamedTemporaryFile() as saved_body,
                    tempfile.NamedTemporaryFile("w") as saved_headers,
                ):
                    saved_body.write(body)
                    saved_body.flush()
                    json.dump(sent, saved_headers)
                    saved_headers.flush()
                    bare_port = free_port()
                    bare = [PYTHON, "-m", "bench.bare", str(bare_port), saved_body.name,
                            saved_headers.name]  # fmt: skip
                    bare_url = f"http://127.0.0.1:{bare_port}/x"
                    async with process(*bare, port=bare_port):
                        runs, paced = [], []
                        for _ in range(rounds):
                            runs.append((wrk(bare_url, seconds), wrk(url, seconds)))
                            if tier == "memory":
                                pause = int(50_000 / (HOT_TARGET * runs[-1][0][0]))
                                paced.append((pause, wrk(url, seconds, pause)))
            bare_rate = statistics.median(b[0] for b, _ in runs)
            rate = statistics.median(g[0] for _, g in runs)
            p99 = statistics.median(g[1] for _, g in runs)
            ratio = rate / bare_rate
            figures: dict[str, Any] = {
                "rate": rate,
                "bare_rate": bare_rate,
                "ratio": ratio,
                "p99_ms_saturated": p99,
                "bare_p99_ms_saturated": statistics.median(b[1] for b, _ in runs),
                "status": status,
                "runs": runs,
            }
            measured = f"{rate:,.0f} vs {bare_rate:,.0f} req/s = {ratio:.3f} x bare"
            ok = ratio >= target
            if paced:
                paced_rate = statistics.median(r for _, (r, _) in paced)
                paced_p99 = statistics.median(p for _, (_, p) in paced)
                figures.update(paced=paced, paced_rate=paced_rate, paced_p99_ms=paced_p99)
                measured += (
                    f"; p99 {paced_p99:.1f} ms at {paced_rate:,.0f} req/s paced"
                    f" ({p99:.1f} ms saturated)"
                )
                ok = ok and paced_p99 <= 5.0
            results.append(
                Result(
                    f"hot descriptor from {tier}",
                    measured,
                    f">= {target:.2f} x bare" + (", p99 <= 5 ms" if paced else ""),
                    ok,
                    figures,
                )
            )
    return results


async def fan_out(requests: int) -> list[Result]:
    """Cold ``/tools?name=`` over 5 upstreams of 100 ms, then with one of them hung."""
    ports = [free_port() for _ in range(5)]
    results = []
    async with contextlib.AsyncExitStack() as stack:
        for port in ports:
            await stack.enter_async_context(
                process(*upstream(port, delay=0.1, tools=200), port=port, path="/service-info")
            )
        hung_port = free_port()
        await stack.enter_async_context(process(*upstream(hung_port, hang=True), port=None))
        await asyncio.sleep(1.0)
        healthy = [{"name": f"up{i}", "url": f"http://127.0.0.1:{p}"} for i, p in enumerate(ports)]
        for label, entries in (
            ("cold /tools?name= over 5 upstreams of 100 ms", healthy),
            ("1 of 5 upstreams hung, deadline 1 s", [
                *healthy[:4], {"name": "hung", "url": f"http://127.0.0.1:{hung_port}"}]),
        ):  # fmt: skip
            config = {"upstreams": entries, "federation": {"deadline": 1.0}}
            async with gateway(config) as (port, _), aiohttp.ClientSession() as session:
                times, named = [], 0
                for n in range(requests):
                    started = time.perf_counter()
                    _, headers, _ = await fetch(
                        session, f"http://127.0.0.1:{port}{BASE}/tools?name=tool%20{n}&limit=10"
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    missing = headers.get("X-TRS-Gateway-Missing", "")
                    named += any(f'"up{i}"' in missing for i in range(5))
            times.sort()
            median, p99 = statistics.median(times), times[max(0, int(len(times) * 0.99) - 1)]
            if label.startswith("cold"):
                figures = {"median_ms": median, "p99_ms": p99}
                results.append(
                    Result(label, f"median {median:.0f} ms", "<= 130 ms", median <= 130, figures)
                )
            else:
                results.append(Result(
                    label, f"p99 {p99:.0f} ms; healthy named late in {named} of {requests}",
                    "p99 <= 1100 ms, no healthy upstream named", p99 <= 1100 and named == 0,
                    {"p99_ms": p99, "healthy_named": named}))  # fmt: skip
    return results


async def stampede(redis_url: str, concurrency: int) -> list[Result]:
    """Concurrent cold requests for one descriptor, 2 workers sharing Redis."""
    up_port = free_port()
    async with process(*upstream(up_port, delay=0.5), port=up_port, path="/service-info"):
        entry = {"name": "up", "url": f"http://127.0.0.1:{up_port}"}
        config = {"upstreams": [entry], "cache": {"redis_url": redis_url,
                  "key_prefix": f"bench{time.time_ns()}"}}  # fmt: skip
        async with gateway(config, workers=2) as (port, _):
            before = await upstream_descriptor_requests(up_port)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                answers = await asyncio.gather(
                    *(fetch(session, descriptor_url(port, 7)) for _ in range(concurrency))
                )
            ok_answers = sum(status == 200 for status, _, _ in answers)
            asked = await upstream_descriptor_requests(up_port) - before
    return [Result(
        f"{concurrency} concurrent cold requests for one descriptor, 2 workers, shared Redis",
        f"{ok_answers}/{concurrency} answered 200; {asked} upstream request(s)",
        "exactly 1 upstream request", ok_answers == concurrency and asked == 1,
        {"answered": ok_answers, "upstream_requests": asked})]  # fmt: skip


async def upstream_descriptor_requests(port: int) -> int:
    async with aiohttp.ClientSession() as session:
        _, _, body = await fetch(session, f"http://127.0.0.1:{port}/_bench/requests")
    return int(json.loads(body)["descriptor"])


async def memory_bound(descriptors: int) -> list[Result]:
    """Distinct 10 KiB descriptors through a 64 MiB in-process tier: RSS over time."""
    up_port = free_port()
    async with process(*upstream(up_port, tools=descriptors, body_kb=10), port=up_port,
                       path="/service-info"):  # fmt: skip
        entry = {"name": "up", "url": f"http://127.0.0.1:{up_port}"}
        cache = {"memory_bytes": 64 * 1024 * 1024, "memory_entries": 1_000_000}
        async with gateway({"upstreams": [entry], "cache": cache}) as (port, pid):
            start = rss_kib(pid)
            samples = []
            connector = aiohttp.TCPConnector(limit=50)
            async with aiohttp.ClientSession(connector=connector) as session:
                gate = asyncio.Semaphore(50)

                async def one(i: int) -> None:
                    async with gate:
                        await fetch(session, descriptor_url(port, i))

                step = max(1, descriptors // 20)
                for first in range(0, descriptors, step):
                    await asyncio.gather(
                        *(one(i) for i in range(first, min(descriptors, first + step)))
                    )
                    samples.append(rss_kib(pid))
    peak = (max(samples) - start) / 1024
    half = samples[len(samples) // 2 :]
    drift = (half[-1] - half[0]) / 1024
    return [Result(
        f"{descriptors:,} distinct 10 KiB descriptors, memory_bytes 64 MiB",
        f"peak RSS +{peak:.0f} MiB; second half drift {drift:+.0f} MiB",
        "<= 64 MiB + 80 MiB, flat once full", peak <= 144 and abs(drift) <= 16,
        {"peak_mib": peak, "drift_mib": drift, "samples_kib": samples})]  # fmt: skip


async def walk(tools: int, rounds: int) -> list[Result]:
    """Walking a merged listing of 3 upstreams of ``tools`` tools, ``limit=1000``, against
    walking the slowest upstream's own listing the same way (each page takes its
    upstream 0.25 s, about what a registry takes for 1,000 tools). Each walk is made
    ``rounds`` times (a fresh gateway each time) and the medians compared."""
    ports = [free_port() for _ in range(3)]
    async with contextlib.AsyncExitStack() as stack:
        for port in ports:
            await stack.enter_async_context(
                process(*upstream(port, tools=tools, delay=0.25), port=port, path="/service-info")
            )
        entries = [{"name": f"up{i}", "url": f"http://127.0.0.1:{p}"} for i, p in enumerate(ports)]
        config = {"upstreams": entries, "federation": {"max_limit": 1000, "deadline": 60}}
        owns, tooks, seens = [], [], []
        async with aiohttp.ClientSession() as session:
            for _ in range(rounds):
                own = 0.0
                for port in ports:
                    started = time.perf_counter()
                    url: str | None = f"http://127.0.0.1:{port}/tools?limit=1000"
                    while url:
                        _, headers, _ = await fetch(session, url)
                        url = headers.get("next_page")
                    own = max(own, time.perf_counter() - started)
                owns.append(own)
                async with gateway(config) as (port, _):
                    started = time.perf_counter()
                    url = f"http://127.0.0.1:{port}{BASE}/tools?limit=1000"
                    seen = 0
                    while url:
                        _, headers, body = await fetch(session, url)
                        seen += len(json.loads(body))
                        url = headers.get("next_page")
                    tooks.append(time.perf_counter() - started)
                    seens.append(seen)
    took, own = statistics.median(tooks), statistics.median(owns)
    ratio = took / own
    complete = all(seen == 3 * tools for seen in seens)
    return [Result(
        f"walking a merged 3 x {tools:,}-tool listing, limit=1000",
        f"{took:.2f} s for {3 * tools:,} tools = {ratio:.2f} x the slowest upstream's own walk"
        + ("" if complete else f" (INCOMPLETE: {seens})"),
        "<= 1.2 x", ratio <= 1.2 and complete,
        {"seconds": tooks, "upstream_seconds": owns, "ratio": ratio, "tools": seens})]  # fmt: skip


async def workers_scaling(seconds: int, rounds: int) -> list[Result]:
    """Throughput of 2 workers against 1, alternating, median of ``rounds`` each.

    The load generator shares the machine's 2 cores, so a request must cost the
    gateway far more than it costs ``wrk``, or the comparison measures ``wrk``: a
    cached 100-tool ``/tools`` page through the full request path (a rate-limited
    gateway, so no hot answer), about a millisecond of gateway work per request.
    """
    up_port = free_port()
    rates: dict[int, list[float]] = {1: [], 2: []}
    async with process(*upstream(up_port, tools=500), port=up_port, path="/service-info"):
        entry = {"name": "up", "url": f"http://127.0.0.1:{up_port}"}
        limited = {"rate_limit": {"per_second": 1e6, "burst": 100_000}}
        for _ in range(rounds):
            for workers in (1, 2):
                config = {"upstreams": [entry], "server": limited}
                async with gateway(config, workers=workers) as (port, _):
                    url = f"http://127.0.0.1:{port}{BASE}/tools?limit=100"
                    async with aiohttp.ClientSession() as session:
                        for _ in range(4 * workers):
                            await fetch(session, url)
                    rates[workers].append(wrk(url, seconds)[0])
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    ratio = two / one
    return [Result(
        "2 workers vs 1 (full request path, cached 100-tool page)",
        f"{two:,.0f} vs {one:,.0f} req/s = {ratio:.2f} x", ">= 1.6 x", ratio >= 1.6,
        {"rates": rates, "ratio": ratio})]  # fmt: skip


async def main(args: argparse.Namespace) -> int:
    seconds = 3 if args.quick else 6
    results: list[Result] = []
    async with redis_server() as redis_url:
        results += await hot_hits(seconds, redis_url, 1 if args.quick else 3)
        results += await fan_out(10 if args.quick else 20)
        results += await stampede(redis_url, 500)
        results += await walk(1_000 if args.quick else 5_000, 1 if args.quick else 3)
        results += await memory_bound(5_000 if args.quick else 62_000)
        results += await workers_scaling(seconds, 1 if args.quick else 3)
    width = max(len(r.scenario) for r in results)
    for r in results:
        print(
            f"{'ok  ' if r.ok else 'MISS'} {r.scenario:<{width}}  {r.measured}  (target {r.target})"
        )
    if args.json:
        text = json.dumps([asdict(r) for r in results], indent=2)
        await asyncio.to_thread(Path(args.json).write_text, text)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, small catalogues")
    parser.add_argument("--json", default="bench/results.json", help="where to write the figures")
    os.chdir(Path(__file__).resolve().parent.parent)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
