"""Fake upstream TRS registries for the gateway's tests (run on loopback via aiohttp_server).

Usage::

    reg, base_url = await start_registry(aiohttp_server, "dockstore", [FakeTool(...)])
    reg.mode = "error500"          # flip behaviour at runtime
    assert reg.request_count("/tools") == 1
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from aiohttp.test_utils import TestServer

from .biocontainers import BioContainersRegistry
from .catalog import FakeFile, FakeTool, FakeVersion
from .common import MODES, FakeRegistry, RecordedRequest, java_url_decode
from .dockstore import DockstoreRegistry
from .factory import FLAVORS, make_registry_app
from .generic import GenericRegistry
from .static import StaticRegistry, write_static_tree
from .workflowhub import WorkflowHubRegistry


class ServerFactory(Protocol):
    """pytest-aiohttp's ``aiohttp_server`` fixture."""

    async def __call__(self, app: web.Application, **kwargs: Any) -> TestServer: ...


async def start_registry(
    aiohttp_server: ServerFactory, flavor: str, tools: list[FakeTool], **knobs: Any
) -> tuple[FakeRegistry, str]:
    """Start a fake registry on loopback; return it and its TRS base URL (no trailing slash)."""
    registry = make_registry_app(flavor, tools, **knobs)
    server = await aiohttp_server(registry.app)
    base_url = str(server.make_url(registry.base_path or "/")).rstrip("/")
    return registry, base_url


__all__ = [
    "FLAVORS",
    "MODES",
    "BioContainersRegistry",
    "DockstoreRegistry",
    "FakeFile",
    "FakeRegistry",
    "FakeTool",
    "FakeVersion",
    "GenericRegistry",
    "RecordedRequest",
    "ServerFactory",
    "StaticRegistry",
    "WorkflowHubRegistry",
    "java_url_decode",
    "make_registry_app",
    "start_registry",
    "write_static_tree",
]
