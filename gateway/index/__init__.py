"""The identity index as the running gateway keeps it: shared through Redis, filled by a harvest.

:class:`Identity` answers every question about twins and aliases from memory
and keeps the shared copy in Redis in sync; :class:`Harvester` walks every
upstream's catalogue in the background so the index does not depend on what
clients happened to ask. Both are application resources: one of each per
process, outliving configuration reloads.
"""

from __future__ import annotations

from .harvest import Harvester, HarvestState, LeaseLost, Progress
from .shared import Identity

__all__ = ["HarvestState", "Harvester", "Identity", "LeaseLost", "Progress"]
