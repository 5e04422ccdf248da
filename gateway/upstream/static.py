"""Static trees: a TRS API published as files (Yevis on GitHub Pages, ``file:``).

Every route is one ``index.json`` below the base URL; query strings are
ignored, there are no pagination headers, and anything missing is a 404 (an
HTML page on GitHub Pages). The gateway reads the whole ``tools/index.json``
and filters and pages it itself; it keeps that listing for a short while so
paging through it does not refetch it for every page.

Descriptors of other files than the primary one live at
``{TYPE}/descriptor/<path components>/index.json``; only the non-PLAIN type
directories exist, so plain files are unwrapped from their JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ..config import Flavor, UpstreamConfig
from ..ids import quote_segment
from ..trs.types import DescriptorType, Language
from .base import RawPage, Upstream
from .transport import RawResponse, Transport

__all__ = ["StaticUpstream"]

LISTING_TTL = 30.0


class StaticUpstream(Upstream):
    flavor: ClassVar[Flavor] = Flavor.STATIC
    native_filters: ClassVar[frozenset[str]] = frozenset()
    serves_zip: ClassVar[bool] = False

    def __init__(self, config: UpstreamConfig, transport: Transport) -> None:
        super().__init__(config, transport)
        self._listing: tuple[float, list[dict[str, Any]]] | None = None

    async def send(
        self,
        path: str,
        params: Mapping[str, str] | None,
        accept: str,
        headers: Mapping[str, str] | None,
    ) -> RawResponse:
        return await self.transport.get(f"{path}/index.json", None, "application/json", headers)

    def type_segment(self, dtype: DescriptorType) -> str:
        return str(dtype.language)

    def relative_path(self, path: str) -> str:
        return "/".join(quote_segment(part) for part in path.split("/") if part)

    async def list_tools(
        self, filters: Mapping[str, str], start: int, count: int, enough: int | None = None
    ) -> RawPage:
        now = time.monotonic()
        if self._listing is None or now - self._listing[0] > LISTING_TTL:
            tools = await self.get_list("/tools", "tool listing")
            self._listing = (now, [t for t in tools if isinstance(t, dict)])
        tools = self._listing[1]
        return RawPage(tools[start : start + count], exhausted=start + count >= len(tools))

    async def get_plain_descriptor(
        self, tool_id: str, version: str, language: Language, relative: str | None
    ) -> bytes:
        wrapper = await self.get_descriptor(tool_id, version, language, relative)
        content = wrapper.get("content")
        if not isinstance(content, str):
            raise self.wrong_shape("descriptor content", "a string", content)
        return content.encode()
