"""Hot answers: a response made from a fresh cache entry, ready to be sent again.

A cache hit through the full request path still routes the request, resolves
its tool, builds the cache key, fills the base URL into the body, hashes an
ETag and assembles a dozen headers. For the answers asked again and again
(a platform's workers all fetching one descriptor) that work gives the same
result every time, so the response sent is remembered, keyed by what the
answer depends on in the request, and sent again directly (before routing)
while it is still what the full path would send:

* the same generation (a reload forgets every hot answer);
* the in-process tier still holds the very entry it was made from (a purge,
  a refresh or an eviction forgets it); with the in-process tier off
  (``memory_entries: 0``), Redis still holds it, checked with one read shared
  by every concurrent request for it;
* the entry is still fresh (a stale entry goes the full path, which refreshes it);
* for answers carrying identity aliases, the identity index has not changed.

Only ``Age``, ``Cache-Control`` (once a second) and the request id are made per
request; ``If-None-Match`` is answered ``304`` as the full path does. Requests
that must take a rate-limit token always go the full path; bearer tokens are
checked here as they are there (a request that fails the check goes the full
path, which refuses it).

Hot answers are sent by the server's front door (:meth:`gateway.ops.access.Access.front_door`),
before aiohttp routes the request; the access middleware offers them every answer
of the full path (:meth:`HotAnswers.remember`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

from ..answers import Answer
from ..cache import CachePolicy, CacheStatus, Tier, TieredCache
from ..cache.entry import Entry
from ..index import Identity
from ..responses import etags_of
from ..runtime import Generation
from .guard import permits
from .logs import AccessLine
from .metrics import route_label

__all__ = ["ANSWERED", "HotAnswers"]

ANSWERED = web.RequestKey("answered", Answer)
"""The answer a TRS handler sent (set by the handler, read by :class:`HotAnswers`)."""

PER_REQUEST = frozenset({"age", "cache-control", "x-cache", "x-cache-source", "x-request-id"})
"""Headers never remembered: made again per request, or the same for every hot answer."""

Signature = tuple[str, str | None, str | None, str | None]

OVERHEAD = 512
"""Bytes counted for a hot answer besides its body (headers, bookkeeping)."""


@dataclass(slots=True, eq=False)
class Hot:
    """A response the full path sent, and what it stays valid for."""

    generation: Generation
    signature: Signature
    """What it is kept under (see :meth:`HotAnswers._signature`)."""
    key: str
    entry: Entry
    identity_changes: int | None
    body: bytes
    etag: str
    headers: CIMultiDict[str]
    """Every header but ``Age`` and ``Cache-Control`` (and those aiohttp adds)."""
    route: str
    """The route template that matched (the metric label of every request answered)."""
    policy: CachePolicy
    source: Tier
    """The tier checked before each sending (and named in ``X-Cache-Source``)."""
    second: int = -1
    """The second ``sent`` was made for."""
    sent: CIMultiDict[str] = field(default_factory=CIMultiDict)
    """``headers`` with this second's ``Age`` and ``Cache-Control``."""
    access: dict[int, AccessLine] = field(default_factory=dict)
    """The access line's fixed part, by status (200, or 304), made at its first use."""

    @property
    def size(self) -> int:
        return len(self.body) + OVERHEAD

    def access_line(self, request: web.BaseRequest, response: web.Response) -> AccessLine:
        """The fixed part of the access line of ``response``, sent for ``request``."""
        status = response.status
        line = self.access.get(status)
        if line is None:
            size = response.content_length
            cache = CacheStatus.HIT.value
            line = AccessLine.of(request.method, request.raw_path, self.route, status, size, cache)
            self.access[status] = line
        return line


@dataclass(frozen=True, slots=True)
class _Rules:
    """What a generation's configuration means for hot answers, worked out once."""

    generation: Generation
    usable: bool
    """No rate limit: no request has to take a token."""
    by_host: bool
    """Links are made from the request's host (no ``server.public_url``)."""
    by_origin: bool
    """CORS headers depend on the request's ``Origin`` (no ``*``)."""
    tokens: bool
    """Requests for TRS routes need a bearer token."""

    @classmethod
    def of(cls, generation: Generation) -> _Rules:
        server = generation.config.server
        return cls(
            generation,
            usable=server.rate_limit.per_second is None,
            by_host=not server.public_url,
            by_origin="*" not in server.cors_origins,
            tokens=bool(server.access.tokens),
        )


class HotAnswers:
    """Remembers responses made from fresh cache entries and sends them again."""

    def __init__(self, cache: TieredCache, identity: Identity, max_bytes: int) -> None:
        self.cache = cache
        self.identity = identity
        self.max_bytes = max_bytes
        self._hot: OrderedDict[Signature, Hot] = OrderedDict()
        """Least recently sent first."""
        self._bytes = 0
        self._rules: _Rules | None = None
        self.hits = 0
        """Requests answered here."""

    def __len__(self) -> int:
        return len(self._hot)

    def _keep(self, signature: Signature, hot: Hot) -> None:
        self._forget(signature)
        if hot.size > self.max_bytes:
            return
        self._hot[signature] = hot
        self._bytes += hot.size
        while self._bytes > self.max_bytes:
            _, oldest = self._hot.popitem(last=False)
            self._bytes -= oldest.size

    def _forget(self, signature: Signature, hot: Hot | None = None) -> None:
        """Forget the hot answer of ``signature`` (only if it is ``hot``, when given)."""
        kept = self._hot.get(signature)
        if kept is not None and (hot is None or kept is hot):
            del self._hot[signature]
            self._bytes -= kept.size

    def rules(self, generation: Generation) -> _Rules:
        rules = self._rules
        if rules is None or rules.generation is not generation:
            rules = self._rules = _Rules.of(generation)
        return rules

    @staticmethod
    def _signature(request: web.BaseRequest, rules: _Rules) -> Signature:
        """What an answer depends on besides its path: the representation asked for, the
        host its links are made for, and the origin its CORS headers are made for."""
        headers = request.headers
        host = f"{request.scheme}://{headers.get('Host')}" if rules.by_host else None
        origin = headers.get("Origin") if rules.by_origin else None
        return (request.raw_path, headers.get("Accept"), host, origin)

    def find(self, request: web.BaseRequest, generation: Generation) -> Hot | None:
        """The hot answer for ``request``, if one is valid; with Redis as its source
        (``Hot.source``), :meth:`confirm` it before sending it."""
        if request.method != "GET":
            return None
        rules = self.rules(generation)
        if not rules.usable:
            return None
        signature = self._signature(request, rules)
        hot = self._hot.get(signature)
        if hot is None:
            return None
        entry = hot.entry
        if (
            hot.generation is not generation
            or time.time() - entry.stored_at >= entry.fresh_for
            or (hot.identity_changes is not None and hot.identity_changes != self.identity.changes)
        ):
            self._forget(signature)
            return None
        if rules.tokens and not permits(request, generation.config.server.access):
            return None
        if hot.source is Tier.MEMORY and not self.cache.memory.holds(hot.key, entry):
            self._forget(signature, hot)
            return None
        self._hot.move_to_end(signature)
        return hot

    async def confirm(self, hot: Hot) -> bool:
        """Whether Redis still holds the entry ``hot`` was made from (one read shared by
        every concurrent request for it); if not, ``hot`` is forgotten."""
        if await self.cache.redis_holds(hot.key, hot.entry):
            return True
        self._forget(hot.signature, hot)
        return False

    def respond(self, request: web.BaseRequest, hot: Hot) -> web.Response:
        """The response ``hot`` makes for ``request`` (counted as a hit)."""
        self.hits += 1
        self.cache.stats.count(CacheStatus.HIT, hot.source)
        now = time.time()
        second = int(now)
        if second != hot.second:
            entry = hot.entry
            age = now - entry.stored_at
            sent = hot.headers.copy()
            sent["Age"] = str(max(0, int(age)))
            sent["Cache-Control"] = hot.policy.cache_control(entry.fresh_for - age)
            hot.second, hot.sent = second, sent
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and hot.etag in etags_of(if_none_match):
            response = web.Response(status=304, headers=hot.sent)
            del response.headers["Content-Type"]
            return response
        return web.Response(body=hot.body, headers=hot.sent)

    def remember(
        self, request: web.Request, generation: Generation, response: web.StreamResponse
    ) -> None:
        """Keep ``response`` if it was made whole from a fresh cache entry that the cache
        can later be asked about (its :attr:`TieredCache.hot_tier`)."""
        answer = request.get(ANSWERED)
        if (
            answer is None
            or answer.reuse is None
            or response.status != 200
            or request.method != "GET"
            or not isinstance(response, web.Response)
            or response.prepared
        ):
            return
        rules = self.rules(generation)
        reuse = answer.reuse
        source = self.cache.hot_tier
        if not rules.usable or source is None:
            return
        if source is Tier.MEMORY and not self.cache.memory.holds(reuse.key, reuse.entry):
            return
        headers = CIMultiDict(
            (k, v) for k, v in response.headers.items() if k.lower() not in PER_REQUEST
        )
        headers["X-Cache"] = CacheStatus.HIT.value
        headers["X-Cache-Source"] = source.value
        signature = self._signature(request, rules)
        hot = Hot(
            generation=generation,
            signature=signature,
            key=reuse.key,
            entry=reuse.entry,
            identity_changes=reuse.identity_changes,
            body=answer.body,
            etag=answer.etag,
            headers=headers,
            route=route_label(request),
            policy=CachePolicy(generation.config),
            source=source,
        )
        self._keep(signature, hot)
