"""Opaque pagination cursors for the merged ``/tools`` listing.

A cursor records, for every upstream of the query, how far the walk has got:
``pos`` (the next index in that upstream's own listing), ``n`` (how many of
its tools the gateway has returned) and ``done``. It also carries a digest of
the query, so a cursor is only accepted with the filters it was issued for.
The JSON is base64url-encoded and signed with HMAC-SHA256; anything that does
not verify, or does not fit the query, is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from ..errors import BadRequest

__all__ = ["Cursor", "StreamState", "query_digest"]

VERSION = 1
_SIG_BYTES = 16


@dataclass(slots=True)
class StreamState:
    """Where the walk stands in one upstream's listing."""

    pos: int = 0
    n: int = 0
    done: bool = False


def query_digest(filters: Mapping[str, str], upstreams: Sequence[str]) -> str:
    material = orjson.dumps({"f": dict(sorted(filters.items())), "u": list(upstreams)})
    return hashlib.sha256(material).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(slots=True)
class Cursor:
    query: str
    streams: dict[str, StreamState]

    def encode(self, key: bytes) -> str:
        body = {
            "v": VERSION,
            "q": self.query,
            "s": {name: [s.pos, s.n, int(s.done)] for name, s in self.streams.items()},
        }
        payload = _b64(orjson.dumps(body))
        signature = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
        return f"{payload}.{_b64(signature)}"

    @classmethod
    def positions(
        cls, offset: str | None, key: bytes, query: str, upstreams: Sequence[str]
    ) -> dict[str, StreamState]:
        """Each upstream's position for a request's ``offset``: the start when it has none
        (or ``0``), else what its cursor holds."""
        if not offset or offset == "0":
            return {name: StreamState() for name in upstreams}
        return cls.decode(offset, key, query, upstreams).streams

    @classmethod
    def decode(cls, token: str, key: bytes, query: str, upstreams: Sequence[str]) -> Cursor:
        """Verify and parse ``token``; it must belong to ``query`` over ``upstreams``."""
        invalid = BadRequest(
            "offset is not a cursor issued by this gateway for this query; "
            "start without offset and follow next_page"
        )
        payload, dot, signature = token.partition(".")
        if not dot or len(token) > 8192:
            raise invalid
        try:
            expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise invalid
            body = orjson.loads(_unb64(payload))
        except (ValueError, orjson.JSONDecodeError):
            raise invalid from None
        if not isinstance(body, dict) or body.get("v") != VERSION or body.get("q") != query:
            raise invalid
        raw = body.get("s")
        if not isinstance(raw, dict) or set(raw) != set(upstreams):
            raise invalid
        streams: dict[str, StreamState] = {}
        for name in upstreams:
            entry = raw[name]
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in entry)
                or entry[0] < 0
                or entry[1] < 0
                or entry[2] not in (0, 1)
            ):
                raise invalid
            streams[name] = StreamState(entry[0], entry[1], bool(entry[2]))
        return cls(query, streams)
