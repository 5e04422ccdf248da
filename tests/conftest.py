"""Shared fixtures: gateways built from configuration, fake upstreams on loopback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.config import GatewayConfig

REPO = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = REPO / "gateway" / "defaults" / "demo-registry"

GatewayFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_config(upstreams: list[dict[str, Any]], **sections: Any) -> GatewayConfig:
    """A validated configuration from upstream entries and optional sections."""
    return GatewayConfig.model_validate({"upstreams": upstreams, **sections})


@pytest.fixture
def gateway(aiohttp_client: Any) -> GatewayFactory:
    """Start a gateway in-process: ``await gateway(upstreams, federation={...})``."""

    async def start(upstreams: list[dict[str, Any]], **sections: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(make_config(upstreams, **sections))
        )
        return client

    return start


@pytest.fixture
def demo_upstream() -> dict[str, Any]:
    """The shipped demo registry as a ``file:`` static upstream."""
    return {"name": "demo", "url": DEMO_REGISTRY.as_uri(), "flavor": "static"}
