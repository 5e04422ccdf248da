"""Catalogues for the fake upstreams: realistic ids, names and files per registry."""

from __future__ import annotations

from tests.fakes import FakeFile, FakeTool, FakeVersion

WORDCOUNT_MAIN = """\
cwlVersion: v1.2
class: Workflow
inputs:
  text: File
outputs:
  count:
    type: File
    outputSource: count/line_count
steps:
  count:
    run: tools/wc.cwl
    in:
      text: text
    out: [line_count]
"""

WORDCOUNT_WC = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [wc, -l]
inputs:
  text: File
stdin: $(inputs.text.path)
stdout: line_count.txt
outputs:
  line_count:
    type: stdout
"""


def cwl_workflow_version(name: str = "1.0", **kwargs: object) -> FakeVersion:
    """A runnable CWL workflow whose step is a relative import (tools/wc.cwl)."""
    return FakeVersion(
        name=name,
        descriptor_types=["CWL"],
        files=[
            FakeFile("main.cwl", WORDCOUNT_MAIN, "PRIMARY_DESCRIPTOR"),
            FakeFile("tools/wc.cwl", WORDCOUNT_WC, "SECONDARY_DESCRIPTOR"),
            FakeFile("test.json", '{"text": {"class": "File", "path": "in.txt"}}', "TEST_FILE"),
        ],
        is_production=True,
        author=["Ada Lovelace"],
        **kwargs,  # type: ignore[arg-type]
    )


def dockstore_tools(count: int, org: str = "org") -> list[FakeTool]:
    tools = [
        FakeTool(
            id=f"#workflow/github.com/{org}/repo-{i:03d}",
            name=f"repo-{i:03d}",
            description=f"Dockstore workflow number {i}",
            organization=org,
            versions=[cwl_workflow_version("main")],
        )
        for i in range(count)
    ]
    return tools


def workflowhub_tools(count: int, start: int = 100) -> list[FakeTool]:
    return [
        FakeTool(
            id=str(start + i),
            name=f"WorkflowHub workflow {i}",
            description=f"A Galaxy workflow from WorkflowHub, number {i}",
            organization="IWC",
            versions=[
                FakeVersion(
                    name=f"Version {v}",
                    id=str(v),
                    descriptor_types=["GALAXY"],
                    files=[
                        FakeFile(
                            "workflow.ga", '{"a_galaxy_workflow": "true"}', "PRIMARY_DESCRIPTOR"
                        )
                    ],
                )
                for v in (1, 2)
            ],
        )
        for i in range(count)
    ]


def biocontainers_tools(count: int) -> list[FakeTool]:
    return [
        FakeTool(
            id=f"tool{i:02d}",
            name=f"tool{i:02d}",
            description=f"Container for tool {i}",
            organization="biocontainers",
            toolclass="CommandLineTool",
            versions=[FakeVersion(name="1.0", id=f"tool{i:02d}-1.0", descriptor_types=[])],
            extra={"identifiers": [f"biotools:tool{i:02d}"]},
        )
        for i in range(count)
    ]
