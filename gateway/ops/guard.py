"""Access control: optional bearer tokens for the TRS routes and for the operator routes.

See :class:`~gateway.config.AccessConfig`. The tokens in force are those of the
request's generation, so a reload that adds or removes one takes effect for the
next request. A missing or wrong token is a ``401`` TRS error with
``WWW-Authenticate: Bearer``; every configured token is compared, in constant
time, so the answer's timing tells nothing about which one came close.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr

from ..errors import Unauthorized
from ..runtime import GENERATION

__all__ = ["OPEN_PATHS", "OPERATOR_PATHS", "guard_middleware"]

OPEN_PATHS = frozenset({"/health"})
"""Always answered: liveness probes carry no token."""
OPERATOR_PATHS = frozenset({"/", "/metrics", "/health/ready"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bearer(request: web.Request) -> bytes | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode()


def _any_matches(given: bytes, tokens: list[SecretStr]) -> bool:
    matched = False
    for token in tokens:  # no early exit: the time taken does not depend on which matched
        matched |= hmac.compare_digest(given, token.get_secret_value().encode())
    return matched


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = request[GENERATION].config.server.access
    path = request.path
    if path in OPEN_PATHS:
        return await handler(request)
    if path in OPERATOR_PATHS:
        needed = access.operator_tokens
    else:
        needed = [*access.tokens, *access.operator_tokens] if access.tokens else []
    if needed:
        given = _bearer(request)
        if given is None:
            raise Unauthorized("this gateway needs a bearer token (Authorization: Bearer …)")
        if not _any_matches(given, needed):
            raise Unauthorized("the bearer token is not valid here")
    return await handler(request)
