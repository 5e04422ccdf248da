"""In-memory catalogue model shared by every fake upstream registry.

Tests describe the tools a fake registry holds with these dataclasses; each flavor module
renders them the way the real registry would (ids, field sets, URLs, quirks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FILE_TYPES = (
    "PRIMARY_DESCRIPTOR",
    "SECONDARY_DESCRIPTOR",
    "TEST_FILE",
    "CONTAINERFILE",
    "OTHER",
)


@dataclass
class FakeFile:
    """One file of a tool version, addressed by its path relative to the repository root."""

    path: str
    content: str
    file_type: str = "SECONDARY_DESCRIPTOR"


@dataclass
class FakeVersion:
    """One version of a tool.

    ``name`` is the version name (Dockstore branch/tag, may contain '/'); ``id`` is only set for
    flavors with their own version ids (WorkflowHub "1", BioContainers "bedtools-2.27.0").
    """

    name: str
    id: str | None = None
    descriptor_types: list[str] = field(default_factory=lambda: ["CWL"])
    files: list[FakeFile] = field(default_factory=list)
    is_production: bool = False
    author: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def primary(self) -> FakeFile | None:
        """The PRIMARY_DESCRIPTOR file, if the version has files."""
        for f in self.files:
            if f.file_type == "PRIMARY_DESCRIPTOR":
                return f
        return None

    def files_of_type(self, file_type: str) -> list[FakeFile]:
        return [f for f in self.files if f.file_type == file_type]


@dataclass
class FakeTool:
    """One tool (or workflow) with its id spelled exactly as the upstream registry spells it."""

    id: str
    name: str = ""
    description: str = ""
    organization: str = ""
    toolclass: str = "Workflow"
    aliases: list[str] = field(default_factory=list)
    versions: list[FakeVersion] = field(default_factory=list)
    has_checker: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
