"""Reloading the configuration on SIGHUP in a real ``serve`` process."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import RELOADER, RUNTIME, create_app
from gateway.config import load_config
from gateway.ops.reload import ReloadSource
from tests.conftest import free_port
from tests.fakes import FakeTool, ServerFactory, start_registry
from tests.samples import cwl_workflow_version


async def poll(condition: Any, seconds: float = 20) -> None:
    """Wait until the coroutine function ``condition`` returns true."""
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def log_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_sighup_reloads_keeps_requests_in_flight_and_refuses_a_bad_file(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    tool = FakeTool(id="wf", name="wf", versions=[cwl_workflow_version("1.0")])
    slow, slow_url = await start_registry(aiohttp_server, "generic", [tool])
    _, extra_url = await start_registry(aiohttp_server, "dockstore", [])
    first = {"name": "slow", "url": slow_url, "timeout": 30}
    second = {"name": "extra", "url": extra_url, "flavor": "dockstore"}
    common = {
        "health": {"probe_interval": 3600},
        "identity": {"harvest": {"enabled": False}},
        "logging": {"format": "json"},
    }
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({"upstreams": [first], **common}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--config", str(config),
            "--port", str(port), stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    async with aiohttp.ClientSession() as session:

        async def names() -> list[str]:
            async with session.get(f"{base}/health/ready") as response:
                return [u["name"] for u in (await response.json())["upstreams"]]

        async def serving() -> bool:
            try:
                return await names() == ["slow"]
            except aiohttp.ClientError:
                return False

        try:
            await poll(serving)
            await poll(lambda: asyncio.sleep(0, slow.request_count("/service-info") == 1))

            # A request held by the upstream for a while, in flight across the reload.
            slow.delay = 4.0
            in_flight = asyncio.create_task(session.get(f"{base}/ga4gh/trs/v2/tools/slow%3Awf"))
            await poll(lambda: asyncio.sleep(0, slow.request_count("/tools/wf") == 1))
            new = {"upstreams": [first, second], "cache": {"memory_entries": 5}, **common}
            config.write_text(json.dumps(new))
            process.send_signal(signal.SIGHUP)

            async def reloaded() -> bool:
                return await names() == ["slow", "extra"]

            await poll(reloaded)
            assert not in_flight.done(), "the upstream still holds the request"
            response = await in_flight
            assert response.status == 200
            assert (await response.json())["id"] == "slow:wf"
            slow.delay = 0
            async with session.get(f"{base}/") as root:
                assert (await root.json())["upstreams"] == ["slow", "extra"]

            # An invalid file: every problem logged, the configuration in force stays.
            config.write_text("upstreams:\n  - {name: Bad Name, url: 'ftp://x'}\nbogus: 1\n")
            process.send_signal(signal.SIGHUP)

            async def refused() -> bool:
                return any("reload failed" in line["message"] for line in log_lines(log_path))

            await poll(refused)
            assert await names() == ["slow", "extra"]
            async with session.get(f"{base}/ga4gh/trs/v2/tools") as listing:
                assert listing.status == 200
            async with session.get(f"{base}/metrics") as scrape:
                text = await scrape.text()
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)

    assert process.returncode == 0
    lines = log_lines(log_path)
    messages = [line["message"] for line in lines]
    assert any("cache.memory_entries changed" in m and "restart" in m for m in messages)
    assert any(m.startswith("configuration reloaded") and "['extra']" in m for m in messages)
    failure = next(m for m in messages if "reload failed" in m)
    assert "3 error(s)" in failure
    errors = [m for m in messages if m.startswith("configuration error:")]
    assert len(errors) == 3
    assert all(str(config) in m for m in errors)
    assert any("bogus: unknown key" in m for m in errors)
    assert any("upstreams[0].name" in m for m in errors)
    assert any("upstreams[0].url" in m for m in errors)
    assert all(
        line["level"] == "error" for line in lines if "configuration error" in line["message"]
    )
    reloads = {
        s.labels["result"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "trs_gateway_config_reloads"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert reloads == {"ok": 1, "error": 1}


def gateway_clients(redis_url: str) -> list[str]:
    """Names of the gateway's connections to the Redis at ``redis_url`` (CLIENT LIST)."""
    import redis

    with redis.Redis.from_url(redis_url) as admin:
        return [
            str(c.get("name"))
            for c in admin.client_list()
            if str(c.get("name", "")).startswith("trs-gateway-")
        ]


def gateway_tasks() -> list[str]:
    """The live tasks other than the test's own: their names, else what they run."""
    current = asyncio.current_task()
    return sorted(
        t.get_name() if not t.get_name().startswith("Task-") else task_code(t)
        for t in asyncio.all_tasks()
        if t is not current and not t.done()
    )


def task_code(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


async def test_five_reloads_leave_one_sync_loop_one_harvest_per_upstream_and_nothing_after(
    aiohttp_client: Any, aiohttp_server: ServerFactory, private_redis: Any, tmp_path: Path
) -> None:
    upstreams = []
    for name in ("one", "two"):
        tools = [FakeTool(id=f"{name}-{i}", versions=[cwl_workflow_version()]) for i in range(3)]
        _, url = await start_registry(aiohttp_server, "generic", tools)
        upstreams.append({"name": name, "url": url})
    path = tmp_path / "gateway.yaml"

    def write(generation: int) -> None:
        config = {
            "upstreams": upstreams,
            "cache": {"redis_url": private_redis.url, "key_prefix": "reloads"},
            "federation": {"deadline": 5 + generation},
            "health": {"probe_interval": 3600},
            "identity": {"harvest": {"enabled": True, "pause": 0, "interval": 3600}},
        }
        path.write_text(json.dumps(config))

    write(0)
    app = create_app(load_config(path), ReloadSource(path))
    client = await aiohttp_client(app)
    for generation in range(1, 6):
        write(generation)
        assert await app[RELOADER].reload()
        assert app[RUNTIME].current().config.federation.deadline == 5 + generation
        listing = await client.get("/ga4gh/trs/v2/tools")
        assert listing.status == 200

    tasks = gateway_tasks()
    assert tasks.count("identity-sync") == 1
    assert tasks.count("harvest-one") == 1
    assert tasks.count("harvest-two") == 1
    assert [t for t in tasks if t.startswith("probe")] == ["probe one", "probe two"]
    assert tasks.count("purge-subscription") == 1
    # Each replaced federation waits out its grace period before it closes.
    assert tasks.count("Reloader._close_when_idle") == 5
    assert gateway_clients(private_redis.url), "the gateway holds Redis connections while up"

    await client.close()
    assert gateway_tasks() == []
    assert gateway_clients(private_redis.url) == []
