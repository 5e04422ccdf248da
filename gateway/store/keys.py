"""Every Redis key the gateway writes, in one place.

Schema version 1::

    <prefix>:v1:c:<class>:<upstream>:<tool>:<version>:<type>:<path>   a cached answer
    <prefix>:v1:c:listing:<digest>                                     a /tools page or /toolClasses
    <prefix>:v1:lock:<cache key>                                       fill lock of one answer
    <prefix>:v1:purge                                                  pub/sub channel for purges
    <prefix>:v1:rate:<client>             one client's rate-limit token bucket
    <prefix>:v1:id:tools                  hash: gateway id -> JSON list of its identity keys
    <prefix>:v1:id:changes                stream: one entry per changed gateway id
    <prefix>:v1:id:harvest:<upstream>     hash: one upstream's harvest progress
    <prefix>:v1:id:harvest-lock:<upstream>  the lock of whoever harvests that upstream

``<class>`` is ``tool``, ``versions``, ``version``, ``descriptor``, ``plain``,
``files``, ``zip``, ``tests`` or ``containerfile``. Every variable part is
percent-encoded with nothing left safe, so a ``:`` inside an id can never be
mistaken for a separator, and a prefix scan for one upstream or one tool
(``cache purge``) matches exactly its keys. Bumping :data:`SCHEMA` makes every
old entry unreachable, the way to change the format of what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

__all__ = ["SCHEMA", "AnswerKind", "KeySpace"]


class AnswerKind(StrEnum):
    """The class of a cached answer about one tool: the ``<class>`` part of its key."""

    TOOL = "tool"
    VERSIONS = "versions"
    VERSION = "version"
    DESCRIPTOR = "descriptor"
    PLAIN = "plain"
    FILES = "files"
    ZIP = "zip"
    TESTS = "tests"
    CONTAINERFILE = "containerfile"


SCHEMA = "v1"
IDENTITY_STREAM_LENGTH = 100_000
"""Changes kept in the identity stream; a process further behind reloads everything."""


def _part(value: str | None) -> str:
    return quote(value or "", safe="")


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Keys below one configured prefix (``cache.key_prefix``)."""

    prefix: str

    @property
    def root(self) -> str:
        return f"{self.prefix}:{SCHEMA}"

    def answer(
        self,
        kind: AnswerKind,
        upstream: str,
        tool: str,
        version: str | None = None,
        dtype: str | None = None,
        path: str | None = None,
    ) -> str:
        parts = [kind.value, upstream, tool, version, dtype, path]
        return f"{self.root}:c:" + ":".join(_part(p) for p in parts)

    def listing(self, digest: str) -> str:
        return f"{self.root}:c:listing:{_part(digest)}"

    def lock(self, key: str) -> str:
        return f"{self.root}:lock:{key}"

    @property
    def lock_pattern(self) -> str:
        return f"{self.root}:lock:*"

    @property
    def listing_pattern(self) -> str:
        return f"{self.root}:c:listing:*"

    @property
    def identity_tools(self) -> str:
        return f"{self.root}:id:tools"

    @property
    def identity_changes(self) -> str:
        return f"{self.root}:id:changes"

    @property
    def identity_stream_length(self) -> int:
        return IDENTITY_STREAM_LENGTH

    def harvest(self, upstream: str) -> str:
        return f"{self.root}:id:harvest:{_part(upstream)}"

    def harvest_lock(self, upstream: str) -> str:
        return f"{self.root}:id:harvest-lock:{_part(upstream)}"

    def rate_bucket(self, client: str) -> str:
        return f"{self.root}:rate:{_part(client)}"

    @property
    def purge_channel(self) -> str:
        return f"{self.root}:purge"

    def pattern(self, upstream: str | None = None, tool: str | None = None) -> str:
        """A ``SCAN MATCH`` pattern: everything, one upstream, or one tool of it."""
        if upstream is None:
            return f"{self.root}:c:*"
        # Any answer class, then the upstream (and tool) parts exactly.
        middle = _glob(_part(upstream)) + (f":{_glob(_part(tool))}:" if tool else ":")
        return f"{self.root}:c:*:{middle}*"

    def matches(self, key: str, upstream: str | None = None, tool: str | None = None) -> bool:
        """Whether ``key`` is one :meth:`pattern` selects (for the in-process tier)."""
        if not key.startswith(f"{self.root}:c:"):
            return False
        if upstream is None:
            return True
        parts = key[len(self.root) + 3 :].split(":")
        if len(parts) < 3 or parts[0] == "listing":
            return False
        return parts[1] == _part(upstream) and (tool is None or parts[2] == _part(tool))


def _glob(value: str) -> str:
    """Escape glob metacharacters for Redis ``MATCH``."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in value)
