"""BioContainers: containers, not descriptors; 204 for "not found".

* Unknown tools and versions, and offsets past the end, answer ``204 No
  Content``.
* Filters are case-insensitive regular expressions; the gateway sends them
  escaped, so they match as substrings, and re-checks them. ``name`` filters
  version names there, so it is applied by the gateway only.
* Descriptor, files, tests and containerfile routes answer a placeholder
  string: the gateway reports those as not found.
* ``/service-info`` is not JSON at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from ..config import Flavor
from ..errors import NotFound
from .base import JSON, Upstream

__all__ = ["BioContainersUpstream"]


class BioContainersUpstream(Upstream):
    flavor: ClassVar[Flavor] = Flavor.BIOCONTAINERS
    native_filters: ClassVar[frozenset[str]] = frozenset(
        {"id", "toolname", "organization", "description", "author", "toolClass", "registry"}
    )
    not_found_statuses: ClassVar[frozenset[int]] = frozenset({204, 404, 410})
    serves_zip: ClassVar[bool] = False
    probe_path: ClassVar[str] = "/toolClasses"
    """Its ``/service-info`` is not JSON, so probes ask for the tool classes."""

    def list_params(self, filters: Mapping[str, str]) -> dict[str, str]:
        return {k: re.escape(v) for k, v in filters.items() if k in self.native}

    async def get_json(self, path: str, what: str, params: Mapping[str, str] | None = None) -> JSON:
        value = await super().get_json(path, what, params)
        if isinstance(value, str):
            raise NotFound(f"upstream {self.name!r} does not serve {what}")
        return value

    async def get_service_info(self) -> dict[str, JSON] | None:
        try:
            return await super().get_service_info()
        except NotFound:
            return None
