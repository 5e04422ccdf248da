"""What may be cached, and for how long: the gateway's caching policy in one place.

* ``/tools`` pages and ``/toolClasses`` live ``cache.lifetimes.listing``;
* tools, version lists and versions live ``metadata``;
* content (descriptors, files, zips, tests, containerfiles) lives
  ``content_immutable`` when it cannot change (every file checksummed, or the
  version is marked ``is_production``), else ``content``;
* each upstream may override any of these (``upstreams[].cache.lifetimes``);
* partial answers (some upstream missing) and errors are never stored.

The same policy writes the ``Cache-Control`` header that tells other caches
how long they may keep an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import GatewayConfig, Lifetime

__all__ = ["CachePolicy"]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The policy of one configuration."""

    config: GatewayConfig

    def listing(self) -> float:
        return self.config.lifetime(None, Lifetime.LISTING)

    def metadata(self, upstream: str) -> float:
        return self.config.lifetime(upstream, Lifetime.METADATA)

    def content(self, upstream: str, *, immutable: bool) -> float:
        kind = Lifetime.CONTENT_IMMUTABLE if immutable else Lifetime.CONTENT
        return self.config.lifetime(upstream, kind)

    def cache_control(self, fresh_for: float) -> str:
        """``Cache-Control`` of an answer that stays fresh ``fresh_for`` more seconds."""
        cache = self.config.cache
        return (
            f"public, max-age={max(int(fresh_for), 0)}, "
            f"stale-while-revalidate={int(cache.stale_while_revalidate)}, "
            f"stale-if-error={int(cache.stale_if_error)}"
        )
