"""The README's offline client commands, run as written (only the port changes)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.clients.test_real_clients import CLIENT_TIMEOUT
from tests.conftest import REPO, free_port, wait_until_serving

pytestmark = pytest.mark.clients

MARKER = "<!-- client-commands -->"


def readme_commands() -> list[str]:
    """The lines of the shell block after the marker, continuation lines joined."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split(MARKER, 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert block is not None, "the README lost its client commands"
    return [line for line in block[1].replace("\\\n", " ").splitlines() if line.strip()]


async def test_the_readme_client_commands_run_offline(tmp_path: Path) -> None:
    commands = readme_commands()
    serve, script = commands[0], commands[1:]
    assert serve == "trs-gateway serve --port 8080 &"
    port = str(free_port())
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("TRS_GATEWAY_CONFIG", None)  # the shipped configuration, as a new user has it
    gateway = await asyncio.create_subprocess_exec(
        str(Path(bin_dir) / "trs-gateway"), "serve", "--port", port,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            await wait_until_serving(session, int(port))
        lines = "\n".join(line.replace("8080", port) for line in script)
        runner = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", lines,
            cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(runner.communicate(), CLIENT_TIMEOUT * 2)
    finally:
        gateway.terminate()
        await gateway.wait()
    text = output.decode(errors="replace")
    assert runner.returncode == 0, text
    # cwltool and then Toil write their outputs to the working directory, each printing them.
    assert text.count('"word_count": {') == 2, text
    count = await asyncio.to_thread((tmp_path / "word_count.txt").read_text)
    assert count.split() == ["5"], "the demo input holds five distinct words"
    assert '"id":"demo:demo-cwl-wordcount"' in text, "the trs-cli spelling reached the tool"
