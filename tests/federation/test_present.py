"""Presenting upstream tools: the listing's one-dump path gives exactly the model path's JSON."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.federation.core import build_federation
from gateway.federation.present import Links, present_tool, present_tool_json
from gateway.index import Identity
from gateway.trs.models import Tool
from tests.conftest import make_config

RAW_TOOLS: list[dict[str, Any]] = [
    {
        "id": "#workflow/github.com/org/repo",
        "url": "https://upstream.example/tools/%23workflow%2Fgithub.com%2Forg%2Frepo",
        "aliases": ["doi:10.1234/x"],
        "organization": "org",
        "toolclass": {"id": "1", "name": "Workflow", "description": "a workflow"},
        "versions": [
            {"id": "#workflow/github.com/org/repo:main", "name": "main",
             "url": "https://upstream.example/v/main", "descriptor_type": ["CWL"]},
            {"id": "2", "name": None, "url": "https://upstream.example/v/2",
             "descriptor_type": "WDL", "is_production": True},
        ],
    },
    {"id": "42", "url": "u", "toolclass": {}, "versions": []},
    {"id": "ünïcode tool/with spaces", "url": "u", "organization": 7,
     "toolclass": {"id": "CommandLineTool"},
     "versions": [{"id": "v 1", "url": "u", "name": "first"}]},
]  # fmt: skip


@pytest.mark.parametrize("flavor", ["dockstore", "generic", "workflowhub"])
@pytest.mark.parametrize("raw", RAW_TOOLS, ids=["dockstore-like", "bare", "unusual"])
async def test_one_dump_presenting_equals_presenting_the_models(
    flavor: str, raw: dict[str, Any]
) -> None:
    config = make_config([{"name": "up", "url": "https://up.example/trs", "flavor": flavor}])
    federation = build_federation(config, Identity(["up"], [], None))
    try:
        upstream = federation.by_name["up"]
        tool = Tool.model_validate(raw)
        links = Links("https://gw.example/ga4gh/trs/v2")
        expected = present_tool(upstream, tool, links).dump()
        assert present_tool_json(upstream, tool, links) == expected
        assert list(present_tool_json(upstream, tool, links)) == list(expected), "key order"
    finally:
        await federation.close()
