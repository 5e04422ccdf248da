"""Dockstore: page-number offsets, a silent cap of 100, ids decoded twice.

* ``offset`` is a page number (``start = offset * limit``) and ``limit`` is
  capped at 100 without notice, so the gateway always asks for pages of
  :attr:`page_size` and slices the range it needs out of them.
* Dockstore URL-decodes ids and version names once more after the HTTP layer
  has, which turns ``+`` into a space and chokes on a stray ``%``. Those two
  characters are therefore sent encoded twice; everything else once.
* Versions are addressed by ``name``; ``ToolVersion.id`` is ``tool:name``.
* Not found is a 404 with an empty body, a 400 for ids it cannot parse, and on
  older servers a 204 from ``/files``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from ..config import Flavor
from ..ids import quote_segment
from .base import RawPage, Upstream

__all__ = ["DockstoreUpstream"]


class DockstoreUpstream(Upstream):
    flavor: ClassVar[Flavor] = Flavor.DOCKSTORE
    not_found_statuses: ClassVar[frozenset[int]] = frozenset({204, 404, 410})
    page_size: ClassVar[int] = 100

    def encode(self, value: str) -> str:
        return quote_segment(value.replace("%", "%25").replace("+", "%2B"))

    def relative_path(self, path: str) -> str:
        return self.encode(path.lstrip("/"))

    def version_segment(self, version: Mapping[str, Any]) -> str:
        return str(version.get("name") or version.get("id") or "")

    async def list_tools(
        self, filters: Mapping[str, str], start: int, count: int, enough: int | None = None
    ) -> RawPage:
        size = self.page_size
        first, last = start // size, (start + count - 1) // size
        params = self.list_params(filters)
        pages = await asyncio.gather(
            *(self._page(params, page, size) for page in range(first, last + 1))
        )
        items: list[dict[str, Any]] = []
        exhausted = False
        for batch in pages:
            items.extend(batch)
            if len(batch) < size:
                exhausted = True
                break
        skip = start - first * size
        wanted = items[skip : skip + count]
        return RawPage(wanted, exhausted=exhausted and skip + count >= len(items))

    async def _page(self, params: Mapping[str, str], page: int, size: int) -> list[dict[str, Any]]:
        query = {**params, "offset": str(page), "limit": str(size)}
        response = await self.request("/tools", query)
        if response.status == 204:
            return []
        self.check(response, "tool listing")
        batch = self.parse_json(response, "tool listing")
        if not isinstance(batch, list):
            raise self.wrong_shape("tool listing", "a list", batch)
        return [t for t in batch if isinstance(t, dict)]
