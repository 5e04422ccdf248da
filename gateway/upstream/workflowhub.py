"""WorkflowHub (SEEK): integer ids, version ids, ignored filters.

* Tool and version ids are integers as strings; a version's ``name`` is its
  title, so versions are addressed by ``id``.
* ``alias``, ``registry`` and ``toolname`` are silently ignored, so the gateway
  applies them itself.
* ``last_page`` is computed wrongly upstream; the gateway never reads it.
* Descriptor wrappers carry ``checksum: []``; ``/files`` has no checksums.
"""

from __future__ import annotations

from typing import ClassVar

from ..config import Flavor
from .base import Upstream

__all__ = ["WorkflowHubUpstream"]


class WorkflowHubUpstream(Upstream):
    flavor: ClassVar[Flavor] = Flavor.WORKFLOWHUB
    native_filters: ClassVar[frozenset[str]] = frozenset(
        {
            "id",
            "name",
            "description",
            "toolClass",
            "descriptorType",
            "organization",
            "author",
            "checker",
        }
    )
