"""Unchanged real clients (cwltool, Toil) resolve and run a workflow through the gateway.

The workflow lives on a Dockstore-flavored fake upstream and imports a tool by
relative path; the clients are the PyPI packages of the ``test`` extra, run as
subprocesses against the gateway on loopback, with Dockstore-style ids.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, start_registry
from tests.samples import cwl_workflow_version

pytestmark = pytest.mark.clients

WORKFLOW = "#workflow/github.com/trs-gateway/wordcount"
VERSION = "v1.0"
CLIENT_TIMEOUT = 300


def executable(name: str) -> str:
    """A console script of the test environment; missing means a broken install."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it is part of the 'test' extra")
    return found


async def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    # Toil starts helper scripts (_toil_worker) by name: the client's bin dir goes first.
    path = os.pathsep.join([str(Path(argv[0]).parent), os.environ.get("PATH", "")])
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env={**os.environ, "PATH": path, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{argv[0]} did not finish within {CLIENT_TIMEOUT}s")
    return process.returncode or 0, output.decode(errors="replace")


@pytest.fixture
async def gateway_root(aiohttp_server: Any, gateway: GatewayFactory) -> tuple[str, Any]:
    tool = FakeTool(
        id=WORKFLOW,
        name="wordcount",
        organization="trs-gateway",
        versions=[cwl_workflow_version(VERSION)],
    )
    registry, url = await start_registry(aiohttp_server, "dockstore", [tool])
    client = await gateway([{"name": "dockstore", "url": url, "flavor": "dockstore"}])
    return str(client.make_url("")).rstrip("/"), registry


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "words.txt").write_text("alpha\nbeta\ngamma\n")
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"text": {"class": "File", "path": str(tmp_path / "words.txt")}}))
    return path


def line_count(outdir: Path) -> str:
    outputs = list(outdir.rglob("line_count.txt"))
    assert len(outputs) == 1, f"expected one output, found {outputs}"
    return outputs[0].read_text().strip()


async def run_cwltool(root: str, spec: str, job: Path, tmp_path: Path) -> Path:
    """Run cwltool on TRS id ``spec`` through the gateway at ``root``; its output directory."""
    outdir = tmp_path / "cwltool-out"
    code, output = await run(
        executable("cwltool"),
        "--outdir",
        str(outdir),
        "--add-ga4gh-tool-registry",
        root,
        spec,
        str(job),
        cwd=tmp_path,
    )
    assert code == 0, output
    return outdir


async def run_toil(root: str, spec: str, job: Path, tmp_path: Path) -> Path:
    """Run toil-cwl-runner on TRS id ``spec`` through the gateway at ``root``; its output
    directory."""
    outdir = tmp_path / "toil-out"
    code, output = await run(
        executable("toil-cwl-runner"),
        "--publishWorkflowMetrics",
        "no",
        # The workflow needs no container; this machine has no container engine.
        "--no-prepull",
        "--jobStore",
        str(tmp_path / "jobstore"),
        "--workDir",
        str(tmp_path),
        "--outdir",
        str(outdir),
        spec,
        str(job),
        cwd=tmp_path,
        env={"TOIL_TRS_ROOT": root, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert code == 0, output
    return outdir


async def test_cwltool_runs_a_dockstore_workflow_through_the_gateway(
    gateway_root: tuple[str, Any], job: Path, tmp_path: Path
) -> None:
    root, registry = gateway_root
    outdir = await run_cwltool(root, f"{WORKFLOW}:{VERSION}", job, tmp_path)
    assert line_count(outdir) == "3"
    assert registry.request_count("wc.cwl") >= 1, "the relative import went upstream"


async def test_toil_runs_a_dockstore_workflow_through_the_gateway(
    gateway_root: tuple[str, Any], job: Path, tmp_path: Path
) -> None:
    root, registry = gateway_root
    outdir = await run_toil(root, f"{WORKFLOW}:{VERSION}", job, tmp_path)
    assert line_count(outdir) == "3"
    assert registry.request_count("/CWL/files") >= 2, "Toil listed the files and fetched the zip"
