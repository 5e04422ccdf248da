"""Typed keys for what the application holds (``app[KEY]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .cache import TieredCache
from .runtime import Runtime

if TYPE_CHECKING:
    # Named, not imported: these modules read the keys below themselves.
    from .ops.metrics import Metrics
    from .ops.monitor import Monitor
    from .ops.probes import Prober
    from .ops.reload import Reloader

__all__ = ["BASE_PATH", "CACHE", "METRICS", "MONITOR", "PROBER", "RELOADER", "RUNTIME"]

RUNTIME = web.AppKey("runtime", Runtime)
"""The configuration in force and its federation; replaced as a whole on reload."""
CACHE = web.AppKey("cache", TieredCache)
BASE_PATH = web.AppKey("base_path", str)
"""Set on each TRS sub-application: the base path it is mounted under."""
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
"""This process's Prometheus metrics (one registry per application)."""
MONITOR: web.AppKey[Monitor] = web.AppKey("monitor")
"""Health, latencies and circuit breaker of every upstream, by name; outlives reloads."""
PROBER: web.AppKey[Prober] = web.AppKey("prober")
"""The background probe of every upstream."""
RELOADER: web.AppKey[Reloader] = web.AppKey("reloader")
"""Reloads the configuration from its file (on SIGHUP when serving from a file)."""
