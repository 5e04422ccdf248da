"""Asking several upstreams at once, within one deadline.

Every call runs as its own task. Whatever has not finished when the deadline
passes is cancelled and reported as a timeout; every failure is kept per
upstream, so a caller can answer with what it has and say what is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..errors import GatewayError, UpstreamBadResponse, UpstreamTimeout

__all__ = ["FanOut", "fan_out"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class FanOut(Generic[T]):
    """Results by upstream name, and the error of every upstream that failed."""

    results: dict[str, T] = field(default_factory=dict)
    errors: dict[str, GatewayError] = field(default_factory=dict)


async def fan_out(calls: Mapping[str, Awaitable[T]], deadline: float) -> FanOut[T]:
    """Run ``calls`` concurrently; stop waiting after ``deadline`` seconds."""
    out: FanOut[T] = FanOut()
    if not calls:
        return out
    tasks = {name: asyncio.ensure_future(call) for name, call in calls.items()}
    try:
        _, pending = await asyncio.wait(tasks.values(), timeout=max(deadline, 0.0))
    finally:
        for task in tasks.values():
            if not task.done():
                task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for name, task in tasks.items():
        if task in pending:
            out.errors[name] = UpstreamTimeout(name, f"no answer within the {deadline:g}s deadline")
            continue
        exc = task.exception()
        if exc is None:
            out.results[name] = task.result()
        elif isinstance(exc, GatewayError):
            out.errors[name] = exc
        else:
            log.error("unexpected error asking upstream %s", name, exc_info=exc)
            out.errors[name] = UpstreamBadResponse(name, f"internal error: {type(exc).__name__}")
    return out
