"""JSON responses and the gateway's own response headers (a leaf: imports nothing above it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from .errors import GatewayError, UpstreamError

__all__ = [
    "MISSING_HEADER",
    "NO_STORE",
    "PAGINATION_HEADERS",
    "etags_of",
    "header_safe",
    "json_response",
    "missing_header_value",
]

MISSING_HEADER = "X-TRS-Gateway-Missing"
"""Names the upstreams left out of a fan-out answer, and why."""

PAGINATION_HEADERS = ("next_page", "last_page", "self_link", "current_offset", "current_limit")

NO_STORE = {"Cache-Control": "no-store"}
"""For errors and partial answers: no cache may keep them."""


def etags_of(if_none_match: str) -> set[str]:
    """The entity tags an ``If-None-Match`` value lists (weak ones compared as strong)."""
    return {t.strip().removeprefix("W/") for t in if_none_match.split(",") if t.strip()}


def header_safe(value: str, limit: int = 4096) -> str:
    """``value`` made fit for a response header: control characters and anything
    outside printable ASCII percent-encoded (as UTF-8), so a string from an
    upstream can never end a header or start another; cut at ``limit`` characters."""
    out = []
    for char in value[:limit]:
        code = ord(char)
        if 0x20 <= code < 0x7F:
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8"))
    return "".join(out)


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(value),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def missing_header_value(errors: Mapping[str, GatewayError]) -> str:
    """``"name";reason="timeout", ...`` (an RFC 8941 list of strings with a parameter)."""
    parts = []
    for name, error in errors.items():
        reason = error.reason.value if isinstance(error, UpstreamError) else "error"
        parts.append(f'"{name}";reason="{reason}"')
    return ", ".join(parts)
