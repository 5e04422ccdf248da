"""``make_registry_app``: build a fake upstream registry of a given flavor."""

from __future__ import annotations

from typing import Any

from .biocontainers import BioContainersRegistry
from .catalog import FakeTool
from .common import FakeRegistry
from .dockstore import DockstoreRegistry
from .generic import GenericRegistry
from .static import StaticRegistry
from .workflowhub import WorkflowHubRegistry

FLAVORS: dict[str, type[FakeRegistry]] = {
    "generic": GenericRegistry,
    "dockstore": DockstoreRegistry,
    "workflowhub": WorkflowHubRegistry,
    "biocontainers": BioContainersRegistry,
    "static": StaticRegistry,
}


def make_registry_app(flavor: str, tools: list[FakeTool], **knobs: Any) -> FakeRegistry:
    """A fake registry of ``flavor`` holding ``tools`` (the list itself, not a copy).

    Common knobs: ``mode``, ``delay``, ``list_delay``, ``hang_seconds``.  Flavor knobs:
    dockstore ``files_204``, ``zip_as_json``; static ``root``, ``absolute_file_paths``.
    Unknown flavors or knobs raise ``ValueError`` / ``TypeError``.
    """
    try:
        cls = FLAVORS[flavor]
    except KeyError:
        raise ValueError(f"unknown flavor {flavor!r}; expected one of {sorted(FLAVORS)}") from None
    return cls(tools, **knobs)
