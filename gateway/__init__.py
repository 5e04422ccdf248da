"""trs-gateway: one GA4GH TRS v2 endpoint in front of many tool registries."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trs-gateway")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

TRS_VERSION = "2.0.1"
USER_AGENT = f"trs-gateway/{__version__}"

__all__ = ["TRS_VERSION", "USER_AGENT", "__version__"]
