"""Namespaced tool ids: ``{upstream}:{upstream tool id}``, and the spellings clients can send.

The gateway id of Dockstore's ``#workflow/github.com/org/repo`` behind the
upstream named ``dockstore`` is ``dockstore:#workflow/github.com/org/repo``.
Ids are split at the *first* ``:``; the part before it is a namespace only if
it names a configured upstream, so plain upstream ids that contain colons (or
none at all, like the Dockstore ids cwltool and Toil send) stay whole and are
looked up on every upstream in configuration order.

Some clients cannot send every id, so each tool is also reachable as:

* ``#workflow/{upstream}/{upstream tool id}``: Toil treats only ``#workflow/``
  strings as TRS ids. The segment after ``#workflow/`` is a namespace only if
  it names a configured upstream; Dockstore's own ``#workflow/github.com/...``
  ids are untouched, since the hosts Dockstore builds ids from cannot be
  upstream names (``config.DOCKSTORE_SOURCE_HOSTS``).
* ``{upstream}~{id in unpadded base64url}``: trs-cli refuses ids holding ``/``
  or ``:``; this spelling has neither (``~`` is in no upstream name and in no
  base64url text, so it cannot be confused with a namespaced id).
* cwltool's split of ``{upstream}:{id}:{version}`` (tool ``{upstream}``,
  version ``{id}:{version}``) is undone where the version is known; see
  :func:`cwltool_split`.

In URLs every id and version is one path segment, percent-encoded with
nothing left safe, so ``#``, ``/``, ``+``, spaces and ``%`` round-trip.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote

from .errors import BadRequest

__all__ = [
    "LATEST",
    "ToolRef",
    "check_id",
    "check_text",
    "client_spellings",
    "cwltool_split",
    "gateway_id",
    "quote_segment",
    "safe_spelling",
    "split_id",
]

_MAX_ID = 2048

WORKFLOW_PREFIX = "#workflow/"
LATEST = "latest"
"""The version cwltool asks for when the user names none."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_SPELLING = re.compile(r"(?P<upstream>[a-z0-9][a-z0-9._-]*)~(?P<encoded>[A-Za-z0-9_-]+)")


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool id as a client sent it: with a known namespace, or without."""

    upstream: str | None
    tool_id: str


_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.~:/#-]*")
"""Segments of these characters only, of which quote() changes exactly three."""
_SEGMENT_ESCAPES = str.maketrans({":": "%3A", "/": "%2F", "#": "%23"})


def quote_segment(value: str) -> str:
    """Percent-encode ``value`` as one URL path segment.

    ``.`` and ``..`` are encoded too (``%2E``): as plain segments they would be
    read as "this directory" and "the parent" on their way to an upstream.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    if _PLAIN_SEGMENT.fullmatch(value):  # the usual ids: no need for quote's general path
        return value.translate(_SEGMENT_ESCAPES)
    return quote(value, safe="")


def check_text(value: str, what: str) -> str:
    """Reject a parameter with control characters, which no registry can hold."""
    if _CONTROL.search(value) is not None:
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
    """Split a decoded gateway id, in any of its spellings, into namespace and upstream id."""
    check_id(value)
    if value.startswith(WORKFLOW_PREFIX):
        upstream, sep, rest = value[len(WORKFLOW_PREFIX) :].partition("/")
        if sep and rest and upstream in upstreams:
            return ToolRef(upstream, check_id(rest))
    safe = _SAFE_SPELLING.fullmatch(value)
    if safe is not None and safe["upstream"] in upstreams:
        decoded = _from_base64url(safe["encoded"])
        if decoded is not None:
            return ToolRef(safe["upstream"], check_id(decoded))
    prefix, sep, rest = value.partition(":")
    if sep and prefix in upstreams:
        if not rest:
            raise BadRequest(f"tool id {value!r} names upstream {prefix!r} but no tool")
        return ToolRef(prefix, rest)
    return ToolRef(None, value)


def cwltool_split(tool: str, version: str, upstreams: Collection[str]) -> tuple[str, str] | None:
    """The gateway id and version cwltool meant, when it split ``{upstream}:{id}:{version}``
    at its first colon into tool ``{upstream}`` and version ``{id}:{version}``.

    The version is what follows the *last* colon (so it cannot hold one); with no
    colon, cwltool was given ``{upstream}:{id}`` alone and the version is
    ``latest``. ``None`` when ``tool`` names no upstream.
    """
    if tool not in upstreams:
        return None
    tool_id, sep, named = version.rpartition(":")
    if not sep:
        tool_id, named = version, LATEST
    if not tool_id or not named:
        return None
    return gateway_id(tool, tool_id), named


def client_spellings(upstream: str, tool_id: str) -> list[str]:
    """The other ids that reach ``{upstream}:{tool_id}``, for its ``aliases``."""
    return [f"{WORKFLOW_PREFIX}{upstream}/{tool_id}", safe_spelling(upstream, tool_id)]


def safe_spelling(upstream: str, tool_id: str) -> str:
    """``{upstream}~{base64url}``: an id with no ``/`` and no ``:`` (for trs-cli)."""
    encoded = base64.urlsafe_b64encode(tool_id.encode("utf-8")).rstrip(b"=").decode("ascii")
    return f"{upstream}~{encoded}"


def _from_base64url(text: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def gateway_id(upstream: str, tool_id: str) -> str:
    return f"{upstream}:{tool_id}"
