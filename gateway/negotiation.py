"""Reading an ``Accept`` header: does the client prefer some media type over JSON?

JSON is what the gateway answers by default, so another representation (a raw
descriptor, a zip, the HTML status page) is chosen only when the client gives
it a strictly higher quality than ``application/json``. Each type's quality is
that of its most specific matching range (RFC 9110 §12.5.1): the exact type,
then ``type/*``, then ``*/*``. Malformed ``q`` values count as 0.
"""

from __future__ import annotations

__all__ = ["prefers"]

JSON = "application/json"


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    """``(media range, q)`` pairs of an ``Accept`` header."""
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))
    return ranges


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    kind = media_type.split("/", 1)[0]
    best: tuple[int, float] = (-1, 0.0)
    for media, quality in ranges:
        if media == media_type:
            specificity = 2
        elif media == f"{kind}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, quality)
    return best[1]


def prefers(accept: str | None, media_type: str) -> bool:
    """Whether a client sending ``accept`` would rather have ``media_type`` than JSON."""
    if not accept:
        return False
    ranges = _media_ranges(accept)
    return _quality(ranges, media_type) > _quality(ranges, JSON)
