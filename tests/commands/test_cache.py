"""``trs-gateway cache purge|warm|stats`` as operators run them, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, start_registry
from tests.samples import cwl_workflow_version

TOOLS = [f"#workflow/github.com/org/warm-{i}" for i in range(3)]


def plain(tool: str) -> str:
    gid = quote(f"dockstore:{tool}", safe="")
    return f"/ga4gh/trs/v2/tools/{gid}/versions/main/PLAIN_CWL/descriptor"


@pytest.fixture
async def setup(
    aiohttp_server: Any, cache_section: dict[str, Any], tmp_path: Path
) -> tuple[Any, dict[str, Any], Path]:
    tools = [FakeTool(id=t, name=t, versions=[cwl_workflow_version("main")]) for t in TOOLS]
    registry, url = await start_registry(aiohttp_server, "dockstore", tools)
    entry = {"name": "dockstore", "url": url, "flavor": "dockstore"}
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({"upstreams": [entry], "cache": cache_section}))
    return registry, entry, config


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "cache",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_warm_fills_redis_so_gateways_start_hot(
    setup: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    registry, entry, config = setup
    code, out, err = await cli("warm", "--config", str(config))
    assert code == 0, err
    assert "tools: 3" in out
    assert "warming" in err and "3/3" in err, "a progress bar on stderr"
    warmed = registry.request_count("/CWL/descriptor")
    assert warmed >= 3
    client = await gateway([entry], cache=cache_section)
    for tool in TOOLS:
        answer = await client.get(plain(tool))
        assert answer.status == 200
        assert answer.headers["X-Cache"] == "HIT" and answer.headers["X-Cache-Source"] == "redis"
        relative = await client.get(plain(tool) + "/tools/wc.cwl")
        assert relative.headers["X-Cache"] == "HIT"
    assert registry.request_count("/CWL/descriptor") == warmed

    code, out, _ = await cli("stats", "--config", str(config))
    stats = json.loads(out)
    assert code == 0
    assert stats["by_class"]["plain"] >= 6 and stats["by_upstream"]["dockstore"] >= 9


async def test_purge_of_one_tool_reaches_redis_and_running_gateways(
    setup: Any, gateway: GatewayFactory, cache_section: dict[str, Any]
) -> None:
    _, entry, config = setup
    client = await gateway([entry], cache=cache_section)
    for tool in TOOLS:
        assert (await client.get(plain(tool))).headers["X-Cache"] == "MISS"
    assert (await client.get(plain(TOOLS[0]))).headers["X-Cache"] == "HIT"
    await asyncio.sleep(0.2)  # let the gateway's purge subscription settle
    code, out, err = await cli("purge", "--config", str(config), "--tool", f"dockstore:{TOOLS[0]}")
    assert code == 0, err
    assert "purged 1 entry" in out
    for _ in range(50):
        answer = await client.get(plain(TOOLS[0]))
        if answer.headers["X-Cache"] == "MISS":
            break
        await asyncio.sleep(0.1)
    assert answer.headers["X-Cache"] == "MISS", "the running gateway dropped its memory copy"
    assert (await client.get(plain(TOOLS[1]))).headers["X-Cache"] == "HIT", "others stay"
    code, out, _ = await cli("purge", "--config", str(config))
    assert code == 0 and "purged" in out and "everything" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["purge", "--tool", "#workflow/x"], "needs a namespace"),
        (["purge", "--upstream", "nope"], "no upstream named"),
    ],
)
async def test_purge_rejects_bad_targets(setup: Any, args: list[str], message: str) -> None:
    _, _, config = setup
    code, _, err = await cli(*args, "--config", str(config))
    assert code == 2 and message in err


async def test_cache_commands_need_redis(tmp_path: Path, demo_upstream: dict[str, Any]) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({"upstreams": [demo_upstream]}))
    for action in ("purge", "warm", "stats"):
        code, _, err = await cli(action, "--config", str(config))
        assert code == 2 and "no cache.redis_url" in err


async def test_warming_serves_only_the_upstream_asked_and_never_harvests(
    demo_upstream: dict[str, Any],
) -> None:
    from gateway.commands.cache import warming
    from tests.conftest import make_config

    config = make_config(
        [{"name": "other", "url": "http://127.0.0.1:1"}, demo_upstream],
        identity={"harvest": {"enabled": True}},
    )
    warm = warming(config, "demo")
    assert [u.name for u in warm.upstreams] == ["demo"]
    assert warm.identity.harvest.enabled is False
    with pytest.raises(ValueError, match="no upstream named 'nope'"):
        warming(config, "nope")


async def test_purging_a_tool_of_an_unknown_upstream_says_so(setup: Any) -> None:
    _, _, config = setup
    code, _, err = await cli("purge", "--tool", "nosuch:foo", "--config", str(config))
    assert code == 2
    assert "no upstream named 'nosuch'" in err
