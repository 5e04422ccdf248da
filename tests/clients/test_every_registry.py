"""Every registry through every real client: cwltool and Toil, unchanged, run a CWL workflow
with a relative import from each kind of upstream, by the ids the gateway lists.

* cwltool by the namespaced id the gateway lists (``{upstream}:{id}:{version}``, which
  cwltool splits at its first colon; the gateway undoes the split);
* cwltool and Toil by ``#workflow/{upstream}/{id}:{version}`` (Toil takes nothing else
  for a TRS id, and needs a checksum on every file, which WorkflowHub never sends).

The upstreams: Dockstore-flavored, WorkflowHub-flavored (numeric ids, titled versions, no
checksums), generic (trs-filer style), and the shipped static demo registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients.test_real_clients import run_cwltool, run_toil
from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, FakeVersion, start_registry
from tests.samples import cwl_workflow_version

pytestmark = pytest.mark.clients

WORDS = "beta\nalpha\nbeta\ngamma\n"


@dataclass(frozen=True)
class Case:
    upstream: str
    tool_id: str
    version: str
    """As the user names it: Toil needs a version's ``name``, cwltool takes a name or id."""
    cwltool_version: str
    expected: str
    """The line count the workflow writes: all lines, or the distinct words (demo)."""
    output: str = "line_count.txt"


CASES = {
    "dockstore": Case("dockstore", "#workflow/github.com/lab/wordcount", "v1.0", "v1.0", "4"),
    # WorkflowHub: Toil names the version by its title, cwltool by WorkflowHub's id.
    "workflowhub": Case("workflowhub", "101", "First release", "1", "4"),
    "generic": Case("filer", "WORDCOUNT1", "1.0", "1.0", "4"),
    "demo": Case("demo", "demo-cwl-wordcount", "1.0.0", "1.0.0", "3", "word_count.txt"),
}


async def start(case: Case, aiohttp_server: Any, demo_upstream: dict[str, Any]) -> dict[str, Any]:
    if case.upstream == "demo":
        return demo_upstream
    flavor = {"dockstore": "dockstore", "workflowhub": "workflowhub"}.get(case.upstream, "generic")
    version = cwl_workflow_version(case.version)
    if flavor == "workflowhub":
        version = FakeVersion(
            name=case.version, id="1", descriptor_types=["CWL"], files=version.files
        )
    tool = FakeTool(id=case.tool_id, name="wordcount", versions=[version])
    _, url = await start_registry(aiohttp_server, flavor, [tool])
    return {"name": case.upstream, "url": url, "flavor": flavor}


@pytest.fixture(params=list(CASES))
async def setup(
    request: pytest.FixtureRequest,
    aiohttp_server: Any,
    gateway: GatewayFactory,
    demo_upstream: dict[str, Any],
    tmp_path: Path,
) -> tuple[Case, str, Path]:
    case = CASES[request.param]
    entry = await start(case, aiohttp_server, demo_upstream)
    client = await gateway([entry])
    root = str(client.make_url("")).rstrip("/")
    listing = await (await client.get("/ga4gh/trs/v2/tools")).json()
    listed = {t["id"]: t for t in listing}
    gid = f"{case.upstream}:{case.tool_id}"
    assert gid in listed, "the namespaced id is the one listed"
    assert f"#workflow/{case.upstream}/{case.tool_id}" in listed[gid]["aliases"]
    (tmp_path / "words.txt").write_text(WORDS)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"text": {"class": "File", "path": str(tmp_path / "words.txt")}}))
    return case, root, job


def count_of(outdir: Path, name: str) -> str:
    outputs = list(outdir.rglob(name))
    assert len(outputs) == 1, f"expected one output, found {outputs}"
    return outputs[0].read_text().split()[0]


async def test_cwltool_runs_the_listed_namespaced_id(
    setup: tuple[Case, str, Path], tmp_path: Path
) -> None:
    case, root, job = setup
    spec = f"{case.upstream}:{case.tool_id}:{case.cwltool_version}"
    outdir = await run_cwltool(root, spec, job, tmp_path)
    assert count_of(outdir, case.output) == case.expected


async def test_cwltool_runs_the_workflow_spelling(
    setup: tuple[Case, str, Path], tmp_path: Path
) -> None:
    case, root, job = setup
    spec = f"#workflow/{case.upstream}/{case.tool_id}:{case.cwltool_version}"
    outdir = await run_cwltool(root, spec, job, tmp_path)
    assert count_of(outdir, case.output) == case.expected


async def test_toil_runs_the_workflow_spelling(
    setup: tuple[Case, str, Path], tmp_path: Path
) -> None:
    case, root, job = setup
    spec = f"#workflow/{case.upstream}/{case.tool_id}:{case.version}"
    outdir = await run_toil(root, spec, job, tmp_path)
    assert count_of(outdir, case.output) == case.expected
