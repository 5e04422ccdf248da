"""How the gateway writes times in its reports: ISO 8601 UTC, second precision."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso"]


def iso(timestamp: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC with a ``Z`` (second precision), or ``None``."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
