"""The gateway's exception tree.

Every failure a client can see is one of these, and each maps to exactly one
HTTP status and a TRS ``Error`` body ``{"code": int, "message": str}``::

    GatewayError                 500  something the gateway itself got wrong
    ├── BadRequest               400  the client sent a parameter we cannot use
    ├── NotFound                 404  unknown upstream prefix, tool, version or file
    └── UpstreamError            502  an upstream answered, but not usefully
        ├── UpstreamBadResponse  502  ... with garbage (HTML, broken JSON, wrong shape)
        ├── UpstreamUnavailable  502  ... not at all (connection refused, reset)
        ├── UpstreamTimeout      504  ... too late (its timeout or the fan-out deadline)
        └── UpstreamCircuitOpen  503  not asked: it failed repeatedly and is resting

``ConfigError`` is separate: it is raised while loading configuration, before
any request is served, and carries one message per problem found.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ConfigError",
    "GatewayError",
    "NotFound",
    "UpstreamBadResponse",
    "UpstreamCircuitOpen",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class GatewayError(Exception):
    """Base of every error that becomes a TRS ``Error`` response."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    """A query or path parameter is malformed or out of range."""

    status = 400


class NotFound(GatewayError):
    """The tool, version, file or upstream prefix does not exist."""

    status = 404


class UpstreamError(GatewayError):
    """An upstream registry failed; ``upstream`` names it."""

    status = 502
    reason = "error"

    def __init__(self, upstream: str, message: str) -> None:
        super().__init__(f"upstream {upstream!r}: {message}")
        self.upstream = upstream
        self.detail = message


class UpstreamBadResponse(UpstreamError):
    """The upstream answered with something that is not a usable TRS response."""

    reason = "bad-response"


class UpstreamUnavailable(UpstreamError):
    """The upstream could not be reached, or answered with a server error."""

    reason = "unavailable"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within its timeout or the fan-out deadline."""

    status = 504
    reason = "timeout"


class UpstreamCircuitOpen(UpstreamError):
    """The upstream's circuit breaker is open, so it was not asked at all.

    Raised without any network call while the upstream rests after repeated
    failures (see :mod:`gateway.ops.circuit`).
    """

    status = 503
    reason = "circuit-open"


class ConfigError(Exception):
    """A configuration file is unreadable or invalid.

    ``problems`` holds one line per error, each naming the file and key path.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
