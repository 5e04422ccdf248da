"""``trs-gateway identity harvest|stats|lookup`` against a real Redis and fake upstreams."""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any

import pytest

from gateway.commands import identity as commands
from gateway.config import GatewayConfig
from tests.conftest import GatewayFactory, make_config
from tests.fakes import FakeTool, FakeVersion, start_registry

BASE = "/ga4gh/trs/v2"


def tools(prefix: str, count: int, doi_from: int) -> list[FakeTool]:
    return [
        FakeTool(
            id=f"{prefix}{i}",
            aliases=[f"doi:10.5281/zenodo.{doi_from + i}"],
            versions=[FakeVersion(name="1", id="1")],
        )
        for i in range(count)
    ]


async def configured(aiohttp_server: Any, cache: dict[str, Any]) -> GatewayConfig:
    _, one = await start_registry(aiohttp_server, "generic", tools("A", 25, 100))
    # The second registry spells the same DOIs as Dockstore does, for the first five.
    hub = [
        FakeTool(id=f"B{i}", aliases=[f"10.5281-zenodo.{100 + i}"], versions=[FakeVersion("1")])
        for i in range(5)
    ]
    _, two = await start_registry(aiohttp_server, "generic", hub)
    return make_config(
        [
            {"name": "one", "url": one, "flavor": "generic"},
            {"name": "two", "url": two, "flavor": "generic"},
        ],
        cache=cache,
        identity={"harvest": {"enabled": False, "page_size": 4, "pause": 0}},
    )


async def test_harvest_command_fills_the_shared_index_with_a_progress_bar(
    aiohttp_server: Any, cache_section: dict[str, Any], gateway: GatewayFactory
) -> None:
    config = await configured(aiohttp_server, cache_section)
    out = io.StringIO()
    done = await commands.harvest(config, out=out)
    assert {name: p.seen for name, p in done.items()} == {"one": 25, "two": 5}
    text = out.getvalue()
    assert "one: " in text and "25tool" in text.replace(" ", "")  # tqdm's bar
    assert "identity index: 30 tools, 5 groups" in text

    stats = await commands.stats(config)
    assert stats["tools"] == 30 and stats["groups"] == 5 and stats["backend"] == "redis"
    assert stats["upstreams"]["one"]["walks"] == 1
    assert stats["upstreams"]["one"]["last_completed"] is not None

    found = await commands.lookup(config, "https://doi.org/10.5281/ZENODO.102")
    assert [t["id"] for t in found["tools"]] == ["one:A2", "two:B2"]

    # A gateway that never harvested serves the twins found by the command.
    client = await gateway(
        [u.model_dump(mode="json") for u in config.upstreams], cache=cache_section
    )
    tool = await (await client.get(f"{BASE}/tools/two:B3")).json()
    assert "one:A3" in tool["aliases"]


async def test_harvest_command_needs_redis_and_a_known_upstream(aiohttp_server: Any) -> None:
    config = await configured(aiohttp_server, {})
    with pytest.raises(RuntimeError, match=r"cache\.redis_url"):
        await commands.harvest(config, out=io.StringIO())
    config = await configured(aiohttp_server, {"redis_url": "redis://127.0.0.1:1/0"})
    with pytest.raises(RuntimeError, match="no upstream named 'nope'"):
        await commands.harvest(config, upstream="nope", out=io.StringIO())
    with pytest.raises(RuntimeError, match="not answering"):
        await commands.stats(config)


async def test_harvest_command_goes_on_past_a_failing_upstream_and_names_it(
    aiohttp_server: Any, cache_section: dict[str, Any], tmp_path: Any
) -> None:
    broken, broken_url = await start_registry(aiohttp_server, "generic", tools("X", 3, 900))
    broken.mode = "error500"
    config = await configured(aiohttp_server, cache_section)
    upstreams = [
        {"name": "broken", "url": broken_url, "flavor": "generic"},
        *(u.model_dump(mode="json") for u in config.upstreams),
    ]
    config = make_config(upstreams, cache=cache_section, identity={"harvest": {"pause": 0}})
    out = io.StringIO()
    with pytest.raises(commands.HarvestIncomplete) as failure:
        await commands.harvest(config, out=out)
    assert list(failure.value.failed) == ["broken"]
    assert "HTTP 500" in failure.value.failed["broken"]
    assert "broken: failed" in out.getvalue()
    stats = await commands.stats(config)
    assert stats["tools"] == 30, "the upstreams after the failing one were harvested"

    path = tmp_path / "gateway.yaml"
    path.write_text(config.model_dump_json(exclude_none=True))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "identity", "harvest", "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 1
    assert "trs-gateway identity harvest: broken failed: " in err.decode()
