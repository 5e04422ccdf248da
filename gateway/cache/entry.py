"""A cached answer: the exact bytes to send, and when they were fetched.

Bodies are stored as sent, except that the gateway's own base URL is replaced
by :data:`BASE_MARK`; it is filled in per request, so one entry serves every
base path and host without any JSON work.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

__all__ = ["BASE_MARK", "Entry"]

BASE_MARK = "@@trs-gateway-base@@"
"""Stands for ``<origin><base path>`` in stored bodies."""


@dataclass(slots=True)
class Entry:
    body: bytes
    content_type: str
    stored_at: float
    """Unix time the upstream answer was fetched."""
    fresh_for: float
    headers: dict[str, str] = field(default_factory=dict)
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = hashlib.sha256(self.body).hexdigest()

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def fresh(self, now: float) -> bool:
        return self.age(now) < self.fresh_for

    def usable_until(self, extra: float) -> float:
        return self.stored_at + self.fresh_for + extra

    @property
    def size(self) -> int:
        return len(self.body) + 256

    def pack(self) -> bytes:
        meta = {
            "t": self.content_type,
            "s": self.stored_at,
            "f": self.fresh_for,
            "h": self.headers,
            "d": self.digest,
        }
        return orjson.dumps(meta) + b"\n" + self.body

    @classmethod
    def unpack(cls, data: bytes) -> Entry | None:
        """The entry stored as ``data``; ``None`` for anything unreadable."""
        head, sep, body = data.partition(b"\n")
        if not sep:
            return None
        try:
            meta = orjson.loads(head)
            return cls(
                body=body,
                content_type=str(meta["t"]),
                stored_at=float(meta["s"]),
                fresh_for=float(meta["f"]),
                headers={str(k): str(v) for k, v in dict(meta.get("h") or {}).items()},
                digest=str(meta["d"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
