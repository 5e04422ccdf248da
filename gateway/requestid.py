"""The id of the request being served, so logs and upstream calls can carry it.

A client may send ``X-Request-ID``; a sane value (1 to 128 characters from
``A-Z a-z 0-9 . _ : -``) is kept, anything else is replaced by a fresh random
id. The id is echoed in the response, sent to every upstream call made for the
request, and added to every log line written while serving it.
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar

__all__ = ["HEADER", "REQUEST_ID", "RequestIds"]

HEADER = "X-Request-ID"

REQUEST_ID: ContextVar[str | None] = ContextVar("trs_gateway_request_id", default=None)
"""Set by the access middleware for the task serving a request (and tasks it starts)."""

_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    """Fresh request ids: a random prefix per process and a counter, unique across
    processes and replicas, and cheaper than random bytes per request."""

    def __init__(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count(1)

    def accept(self, value: str | None) -> str:
        """``value`` if it is a sane request id, else a new one."""
        if value is not None and _SANE.fullmatch(value):
            return value
        return f"{self.prefix}{next(self.count):016x}"
