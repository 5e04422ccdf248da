"""Property-based conformance: schemathesis drives the gateway from the official spec.

The gateway runs with three fake upstreams of different flavors plus the demo
registry, in a background thread; the schemathesis CLI (from PyPI) generates
requests for every operation of TRS 2.0.1 and checks that no answer is a
server error and that every answer matches the documented schema and content
type. The spec's schema for ``/files?format=zip`` is a known bug of TRS 2.0.1
(an array, not a binary), so that check skips ``application/zip`` answers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from aiohttp import web

from gateway.app import create_app
from tests.conftest import DEMO_REGISTRY, make_config
from tests.fakes import make_registry_app
from tests.samples import biocontainers_tools, dockstore_tools, workflowhub_tools

SPEC = Path(str(resources.files("gateway") / "trs" / "openapi" / "trs-2.0.1.bundled.yaml"))


async def _start(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, int(port)


@pytest.fixture
def live_gateway() -> Iterator[str]:
    """A gateway over three flavors on loopback, served from a thread of its own."""
    loop = asyncio.new_event_loop()
    ready: list[str] = []
    runners: list[web.AppRunner] = []
    started = threading.Event()

    async def setup() -> None:
        entries = [{"name": "demo", "url": DEMO_REGISTRY.as_uri(), "flavor": "static"}]
        for name, tools in [
            ("dockstore", dockstore_tools(5)),
            ("workflowhub", workflowhub_tools(5)),
            ("biocontainers", biocontainers_tools(5)),
        ]:
            registry = make_registry_app(name, tools)
            runner, port = await _start(registry.app)
            runners.append(runner)
            url = f"http://127.0.0.1:{port}{registry.base_path}"
            entries.append({"name": name, "url": url, "flavor": name})
        runner, port = await _start(create_app(make_config(entries)))
        runners.append(runner)
        ready.append(f"http://127.0.0.1:{port}/ga4gh/trs/v2")

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(setup())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30), "gateway did not start"
    try:
        yield ready[0]
    finally:

        async def teardown() -> None:
            for runner in reversed(runners):
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(teardown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def test_every_operation_conforms_to_the_trs_2_0_1_schema(
    live_gateway: str, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st is not None, "schemathesis is part of the 'test' extra"
    result = subprocess.run(
        [
            st,
            "run",
            str(SPEC),
            "--url",
            live_gateway,
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--exclude-checks",
            "status_code_conformance",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
