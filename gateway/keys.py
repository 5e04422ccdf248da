"""Typed keys for what the application holds (``app[KEY]``)."""

from __future__ import annotations

from aiohttp import web

from .cache import TieredCache
from .runtime import Runtime

__all__ = ["BASE_PATH", "CACHE", "RUNTIME"]

RUNTIME = web.AppKey("runtime", Runtime)
"""The configuration in force and its federation; replaced as a whole on reload."""
CACHE = web.AppKey("cache", TieredCache)
BASE_PATH = web.AppKey("base_path", str)
"""Set on each TRS sub-application: the base path it is mounted under."""
