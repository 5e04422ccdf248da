"""Long loops over upstream-sized data that let other requests through.

A registry may send a tool with 100,000 versions. Validating, presenting or
serialising it is one long piece of CPU work; in a thread it would still hold
the interpreter lock for the whole of each library call. Instead such loops
run here in batches on the event loop, yielding to it between batches, so no
batch holds other clients up for more than a few milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["BATCH", "map_yielding"]

T = TypeVar("T")
R = TypeVar("R")

BATCH = 500
"""Items handled between two yields to the event loop."""


async def map_yielding(work: Callable[[T], R | None], items: Sequence[T]) -> list[R]:
    """``[work(item) for item in items]``, leaving out ``None`` results, yielding to the
    event loop after every :data:`BATCH` items."""
    out: list[R] = []
    for start in range(0, len(items), BATCH):
        if start:
            await asyncio.sleep(0)
        for item in items[start : start + BATCH]:
            result = work(item)
            if result is not None:
                out.append(result)
    return out
