"""Access control and rate limits: who may ask, and how often.

Tokens: optional bearer tokens for the TRS routes and for the operator routes.

See :class:`~gateway.config.AccessConfig`. The tokens in force are those of the
request's generation, so a reload that adds or removes one takes effect for the
next request. A missing or wrong token is a ``401`` TRS error with
``WWW-Authenticate: Bearer``; every configured token is compared, in constant
time, so the answer's timing tells nothing about which one came close.

Rate limits: a token bucket per client (:class:`~gateway.config.RateLimitConfig`),
in Redis when it is configured (so every process and replica shares it), in this
process otherwise or while Redis does not answer. A client over its limit gets
``429`` with ``Retry-After`` and a TRS error body.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from cachetools import LRUCache
from pydantic import IPvAnyNetwork, SecretStr

from ..config import AccessConfig
from ..errors import GatewayError, Unauthorized
from ..runtime import GENERATION
from ..store import RedisStore

__all__ = ["OPEN_PATHS", "OPERATOR_PATHS", "TooManyRequests", "guard_middleware", "permits"]

LOCAL_BUCKETS = 100_000
"""Clients whose buckets one process keeps when it cannot share them through Redis."""

OPEN_PATHS = frozenset({"/health"})
"""Always answered: liveness probes carry no token."""
OPERATOR_PATHS = frozenset({"/", "/metrics", "/health/ready"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bearer(request: web.BaseRequest) -> bytes | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode()


def _any_matches(given: bytes, tokens: list[SecretStr]) -> bool:
    matched = False
    for token in tokens:  # no early exit: the time taken does not depend on which matched
        matched |= hmac.compare_digest(given, token.get_secret_value().encode())
    return matched


def _needed(access: AccessConfig, path: str) -> list[SecretStr]:
    """The tokens of which a request for ``path`` must bear one (none: it is open)."""
    if path in OPEN_PATHS:
        return []
    if path in OPERATOR_PATHS:
        return access.operator_tokens
    return [*access.tokens, *access.operator_tokens] if access.tokens else []


def _refusal(request: web.BaseRequest, access: AccessConfig) -> str | None:
    """Why ``request`` may not be answered under ``access``; ``None`` if it may."""
    needed = _needed(access, request.path)
    if not needed:
        return None
    given = _bearer(request)
    if given is None:
        return "this gateway needs a bearer token (Authorization: Bearer …)"
    if not _any_matches(given, needed):
        return "the bearer token is not valid here"
    return None


def permits(request: web.BaseRequest, access: AccessConfig) -> bool:
    """Whether ``request`` may be answered under ``access``."""
    return _refusal(request, access) is None


class TooManyRequests(GatewayError):
    """The client asked more often than ``server.rate_limit`` allows."""

    status = 429

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many requests; try again in {math.ceil(wait)}s")
        self.wait = wait

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.wait)))}


def client_of(request: web.Request, proxies: Sequence[IPvAnyNetwork]) -> str:
    """Who is asking: a digest of its bearer token, else its address (through trusted
    proxies, the last address of ``X-Forwarded-For`` that is not one of them)."""
    token = _bearer(request)
    if token is not None:
        return "token:" + hashlib.sha256(token).hexdigest()[:32]
    address = request.remote or "unknown"
    if proxies and _trusted(address, proxies):
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            address = hop
            if not _trusted(hop, proxies):
                break
    return "addr:" + address


def _trusted(address: str, proxies: Sequence[IPvAnyNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


class _LocalBuckets:
    """Token buckets of this process: ``(tokens, when)`` by client."""

    def __init__(self) -> None:
        self.buckets: LRUCache[str, tuple[float, float]] = LRUCache(LOCAL_BUCKETS)

    def take(self, client: str, per_second: float, burst: int) -> tuple[bool, float]:
        now = time.monotonic()
        tokens, when = self.buckets.get(client, (float(burst), now))
        tokens = min(float(burst), tokens + (now - when) * per_second)
        if tokens >= 1:
            self.buckets[client] = (tokens - 1, now)
            return True, 0.0
        self.buckets[client] = (tokens, now)
        return False, (1 - tokens) / per_second


def guard_middleware(store: RedisStore | None) -> Middleware:
    """The middleware: first the rate limit (so guessing tokens is limited too), sharing
    buckets through ``store`` when there is one, then the tokens."""
    local = _LocalBuckets()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        server = request[GENERATION].config.server
        rate = server.rate_limit
        if rate.per_second is not None and request.path not in OPEN_PATHS:
            client = client_of(request, server.trusted_proxies)
            taken = None
            if store is not None:
                taken = await store.take_token(client, rate.per_second, rate.burst)
            if taken is None:
                taken = local.take(client, rate.per_second, rate.burst)
            allowed, wait = taken
            if not allowed:
                raise TooManyRequests(wait)
        refusal = _refusal(request, server.access)
        if refusal is not None:
            raise Unauthorized(refusal)
        return await handler(request)

    return guard
