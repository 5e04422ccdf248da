"""The gateway's exception tree.

Every failure a client can see is one of these, and each maps to exactly one
HTTP status and a TRS ``Error`` body ``{"code": int, "message": str}``::

    GatewayError                 500  something the gateway itself got wrong
    ├── BadRequest               400  the client sent a parameter we cannot use
    ├── Unauthorized             401  the route needs a bearer token the request lacks
    ├── NotFound                 404  unknown upstream prefix, tool, version or file
    └── UpstreamError            502  an upstream answered, but not usefully
        ├── UpstreamBadResponse  502  ... with garbage (HTML, broken JSON, wrong shape)
        ├── UpstreamUnavailable  502  ... not at all (connection refused, reset)
        ├── UpstreamTimeout      504  ... too late (its timeout, the deadline or the budget)
        ├── UpstreamCircuitOpen  503  not asked: it failed repeatedly and is resting
        └── UpstreamRateLimited  503  it asked us to slow down (carries Retry-After)

``ConfigError`` is separate: it is raised while loading configuration, before
any request is served, and carries one message per problem found.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "BadRequest",
    "ConfigError",
    "GatewayError",
    "IndexIncomplete",
    "NotFound",
    "Outcome",
    "Unauthorized",
    "UpstreamBadResponse",
    "UpstreamCircuitOpen",
    "UpstreamError",
    "UpstreamLookupFailed",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class Outcome(StrEnum):
    """How one upstream call ended: the ``reason`` of an :class:`UpstreamError`, the
    ``outcome`` label of the upstream call metrics, and the reason an upstream is
    named in ``X-TRS-Gateway-Missing``."""

    OK = "ok"
    """Any 2xx or 3xx answer (a 200 JSON answer only if it parses)."""
    NOT_FOUND = "not-found"
    """404 or 410: the upstream works, it just has no such thing."""
    CLIENT_ERROR = "client-error"
    """Any other 4xx: the upstream works but refused this request."""
    TIMEOUT = "timeout"
    """No answer within the upstream's timeout, or abandoned at the fan-out deadline."""
    UNAVAILABLE = "unavailable"
    """Connection failed, or a 5xx answer."""
    BAD_RESPONSE = "bad-response"
    """An answer that could not be used: truncated, too large, or a 200 that is not JSON."""
    CIRCUIT_OPEN = "circuit-open"
    """Not made: the upstream's circuit breaker is open."""
    RATE_LIMITED = "rate-limited"
    """429, or 503 with ``Retry-After``; or not made while that pause lasts."""
    INDEX_INCOMPLETE = "index-incomplete"
    """Not asked: the answer came from the identity index, whose harvest of this
    upstream never completed (so it may lack some of its tools)."""

    @property
    def failed(self) -> bool:
        """Whether this outcome counts against the upstream's health and circuit."""
        return self in (Outcome.TIMEOUT, Outcome.UNAVAILABLE, Outcome.BAD_RESPONSE)


class GatewayError(Exception):
    """Base of every error that becomes a TRS ``Error`` response."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Headers the error response carries besides its body."""
        return {}


class BadRequest(GatewayError):
    """A query or path parameter is malformed or out of range."""

    status = 400


class Unauthorized(GatewayError):
    """The route needs a bearer token this request did not carry."""

    status = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="trs-gateway"'}


class NotFound(GatewayError):
    """The tool, version, file or upstream prefix does not exist."""

    status = 404


class UpstreamError(GatewayError):
    """An upstream registry failed; ``upstream`` names it."""

    status = 502
    reason: ClassVar[Outcome] = Outcome.BAD_RESPONSE

    def __init__(self, upstream: str, message: str) -> None:
        super().__init__(f"upstream {upstream!r}: {message}")
        self.upstream = upstream
        self.detail = message


class UpstreamBadResponse(UpstreamError):
    """The upstream answered with something that is not a usable TRS response."""

    reason = Outcome.BAD_RESPONSE


class UpstreamUnavailable(UpstreamError):
    """The upstream could not be reached, or answered with a server error."""

    reason = Outcome.UNAVAILABLE


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within its timeout or the fan-out deadline."""

    status = 504
    reason = Outcome.TIMEOUT


class UpstreamCircuitOpen(UpstreamError):
    """The upstream's circuit breaker is open, so it was not asked at all.

    Raised without any network call while the upstream rests after repeated
    failures (see :mod:`gateway.ops.circuit`).
    """

    status = 503
    reason = Outcome.CIRCUIT_OPEN


class UpstreamRateLimited(UpstreamError):
    """The upstream asked the gateway to slow down (429, or 503 with ``Retry-After``).

    Calls to it are not made until ``retry_after`` seconds have passed; clients are
    told the same through ``Retry-After``.
    """

    status = 503
    reason = Outcome.RATE_LIMITED

    def __init__(self, upstream: str, message: str, retry_after: float) -> None:
        super().__init__(upstream, message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class IndexIncomplete(UpstreamError):
    """An answer from the identity index may lack this upstream's tools: its harvest
    never completed. Only ever reported in ``X-TRS-Gateway-Missing``."""

    reason = Outcome.INDEX_INCOMPLETE


class UpstreamLookupFailed(GatewayError):
    """An id was not found where the gateway could look, and some upstreams could not
    be asked; the message names each one's outcome. Its status is the first failure's
    (so a client retries later), and it carries the first ``Retry-After`` there is."""

    def __init__(self, failures: list[UpstreamError], message: str) -> None:
        super().__init__(message)
        self.failures = failures
        self.status = failures[0].status

    @property
    def headers(self) -> dict[str, str]:
        for failure in self.failures:
            if failure.headers:
                return failure.headers
        return {}


class ConfigError(Exception):
    """A configuration file is unreadable or invalid.

    ``problems`` holds one line per error, each naming the file and key path.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
