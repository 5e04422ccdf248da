"""Shared fixtures: gateways built from configuration, fake upstreams on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import create_app, open_front_door
from gateway.config import GatewayConfig

REPO = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = REPO / "gateway" / "defaults" / "demo-registry"

GatewayFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_config(upstreams: list[dict[str, Any]], **sections: Any) -> GatewayConfig:
    """A validated configuration from upstream entries and optional sections.

    The identity harvest is off unless a test configures it: its background
    listing requests would otherwise mix with the requests a test counts.
    """
    sections.setdefault("identity", {"harvest": {"enabled": False}})
    return GatewayConfig.model_validate({"upstreams": upstreams, **sections})


@pytest.fixture
def gateway(aiohttp_client: Any) -> GatewayFactory:
    """Start a gateway in-process: ``await gateway(upstreams, federation={...})``."""

    async def start(upstreams: list[dict[str, Any]], **sections: Any) -> TestClient[Any, Any]:
        app = create_app(make_config(upstreams, **sections))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        assert client.server.runner.server is not None
        open_front_door(app, client.server.runner.server)  # as ``serve`` does
        return client

    return start


@pytest.fixture
def demo_upstream() -> dict[str, Any]:
    """The shipped demo registry as a ``file:`` static upstream."""
    return {"name": "demo", "url": DEMO_REGISTRY.as_uri(), "flavor": "static"}


# -- Redis ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on a free loopback port that tests may stop and start."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis over TCP: ``$REDIS_URL`` if set, else a private server for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, for tests that stop and restart it."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def cache_section(redis_url: str) -> AsyncIterator[dict[str, Any]]:
    """A ``cache`` config section on the shared Redis, under a key prefix of this test's
    own; every key it created is deleted afterwards and no other key is touched."""
    import redis.asyncio as aioredis

    prefix = f"trsgw-test-{uuid.uuid4().hex[:12]}"
    yield {"redis_url": redis_url, "key_prefix": prefix}
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def wait_until_serving(session: aiohttp.ClientSession, port: int) -> None:
    """Return once a gateway answers ``/health`` on ``port`` (10 s at most)."""
    for _ in range(200):
        try:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"gateway on port {port} did not start")
