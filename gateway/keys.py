"""Typed keys for what the application holds (``app[KEY]``)."""

from __future__ import annotations

from aiohttp import web

from .cache import TieredCache
from .config import GatewayConfig
from .federation.core import Federation

__all__ = ["BASE_PATH", "CACHE", "CONFIG", "FEDERATION"]

CONFIG = web.AppKey("config", GatewayConfig)
FEDERATION = web.AppKey("federation", Federation)
CACHE = web.AppKey("cache", TieredCache)
BASE_PATH = web.AppKey("base_path", str)
"""Set on each TRS sub-application: the base path it is mounted under."""
