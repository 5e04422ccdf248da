"""One request path: a request resolves its tool once and reads the configuration once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gateway.app import RUNTIME
from gateway.federation.core import Located
from gateway.requestid import REQUEST_ID
from gateway.runtime import Generation
from tests.conftest import GatewayFactory
from tests.fakes import start_registry
from tests.samples import workflowhub_tools

BASE = "/ga4gh/trs/v2"


@pytest.mark.parametrize(
    "tool_id",
    ["100", "hub%3A100"],
    ids=["un-namespaced id (asked of every upstream)", "namespaced id"],
)
async def test_a_cold_descriptor_request_resolves_its_tool_once_and_reads_the_config_once(
    gateway: GatewayFactory,
    aiohttp_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    tool_id: str,
) -> None:
    # WorkflowHub sends no checksums and this version is not production: the answer's
    # lifetime needs the version's own answer, the nested lookup that used to
    # resolve the tool again.
    hub, hub_url = await start_registry(aiohttp_server, "workflowhub", workflowhub_tools(1))
    _, other_url = await start_registry(aiohttp_server, "generic", [])
    client = await gateway(
        [
            {"name": "other", "url": other_url, "flavor": "generic"},
            {"name": "hub", "url": hub_url, "flavor": "workflowhub"},
        ],
        health={"probe_interval": 3600},
    )
    runtime = client.server.app[RUNTIME]
    generation = runtime.current()
    federation = generation.federation
    calls: Counter[tuple[str, str | None]] = Counter()
    original_current, original_locate = runtime.current, federation.locate

    def current() -> Generation:
        calls["configuration", REQUEST_ID.get()] += 1
        return original_current()

    async def locate(value: str) -> Located:
        calls["locate", REQUEST_ID.get()] += 1
        return await original_locate(value)

    monkeypatch.setattr(runtime, "current", current)
    monkeypatch.setattr(federation, "locate", locate)

    path = f"{BASE}/tools/{tool_id}/versions/1/PLAIN_GALAXY/descriptor"
    response = await client.get(path, headers={"X-Request-ID": "the-request"})
    assert response.status == 200, await response.text()
    assert response.headers["X-Cache"] == "MISS"
    assert "a_galaxy_workflow" in await response.text()
    # The version's own answer was fetched for the lifetime: the nested lookup ran.
    assert any(r.path.endswith("/versions/1") for r in hub.requests)
    assert calls["locate", "the-request"] == 1
    assert calls["configuration", "the-request"] == 1
