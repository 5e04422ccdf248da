"""Namespaced tool ids: ``{upstream}:{upstream tool id}``.

The gateway id of Dockstore's ``#workflow/github.com/org/repo`` behind the
upstream named ``dockstore`` is ``dockstore:#workflow/github.com/org/repo``.
Ids are split at the *first* ``:``; the part before it is a namespace only if
it names a configured upstream, so plain upstream ids that contain colons (or
none at all, like the Dockstore ids cwltool and Toil send) stay whole and are
looked up on every upstream in configuration order.

In URLs every id and version is one path segment, percent-encoded with
nothing left safe, so ``#``, ``/``, ``+``, spaces and ``%`` round-trip.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote

from .errors import BadRequest

__all__ = ["ToolRef", "check_id", "check_text", "gateway_id", "quote_segment", "split_id"]

_MAX_ID = 2048


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool id as a client sent it: with a known namespace, or without."""

    upstream: str | None
    tool_id: str


def quote_segment(value: str) -> str:
    """Percent-encode ``value`` as one URL path segment.

    ``.`` and ``..`` are encoded too (``%2E``): as plain segments they would be
    read as "this directory" and "the parent" on their way to an upstream.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def check_text(value: str, what: str) -> str:
    """Reject a parameter with control characters, which no registry can hold."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise BadRequest(f"{what} contains control characters")
    return value


def check_id(value: str, what: str = "tool id") -> str:
    """Reject ids no registry can hold: empty, huge, ``.`` or ``..``, or with control
    characters."""
    if not value:
        raise BadRequest(f"empty {what}")
    if len(value) > _MAX_ID:
        raise BadRequest(f"{what} longer than {_MAX_ID} characters")
    if value in (".", ".."):
        raise BadRequest(f"{what} {value!r} is a path step, not an id")
    return check_text(value, what)


def split_id(value: str, upstreams: Collection[str]) -> ToolRef:
    """Split a decoded gateway id into namespace and upstream id."""
    check_id(value)
    prefix, sep, rest = value.partition(":")
    if sep and prefix in upstreams:
        if not rest:
            raise BadRequest(f"tool id {value!r} names upstream {prefix!r} but no tool")
        return ToolRef(prefix, rest)
    return ToolRef(None, value)


def gateway_id(upstream: str, tool_id: str) -> str:
    return f"{upstream}:{tool_id}"
