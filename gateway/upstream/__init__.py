"""Clients for upstream registries: one per configured upstream, by flavor."""

from __future__ import annotations

from ..config import Flavor, UpstreamConfig
from .base import UNNEEDED, RawPage, Upstream
from .biocontainers import BioContainersUpstream
from .dockstore import DockstoreUpstream
from .static import StaticUpstream
from .transport import make_transport
from .workflowhub import WorkflowHubUpstream

__all__ = ["UNNEEDED", "RawPage", "Upstream", "make_upstream"]

_FLAVORS: dict[Flavor, type[Upstream]] = {
    Flavor.GENERIC: Upstream,
    Flavor.DOCKSTORE: DockstoreUpstream,
    Flavor.WORKFLOWHUB: WorkflowHubUpstream,
    Flavor.BIOCONTAINERS: BioContainersUpstream,
    Flavor.STATIC: StaticUpstream,
}


def make_upstream(config: UpstreamConfig, user_agent: str) -> Upstream:
    """The client for ``config``, with its own transport (and HTTP session)."""
    return _FLAVORS[config.flavor](config, make_transport(config, user_agent))
