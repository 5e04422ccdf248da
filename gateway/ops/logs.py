"""Log lines: JSON (one object per line) or text, with secrets redacted.

``trs-gateway serve`` installs one handler on the root logger writing to
standard error, formatted by ``logging.format``:

* ``json``: ``{"ts": "2026-11-21T10:00:00.123Z", "level": "info", "logger": "...",
  "message": "...", "pid": 4242, "request_id": "...", ...}``; fields passed with ``extra=``
  (the access log's) become top-level keys;
* ``text``: ``2026-11-21 10:00:00,123 INFO logger [request id]: message``.

Every line is scrubbed before it is written: the configured secrets (upstream
bearer tokens and auth header values, the cursor secret, the Redis password)
are replaced by ``[redacted]`` wherever they appear, as are the values of
``Authorization`` headers, ``Bearer`` credentials and passwords in URLs.
A reload adds the new configuration's secrets (old ones stay redacted).

Access lines (one per request) take a shorter road when this handler is the
only one listening (:func:`access_writer`): formatted straight from their
fields, without a ``LogRecord``, and written in batches at most
:data:`ACCESS_FLUSH` seconds apart (or once :data:`ACCESS_BATCH` lines are
waiting, or before any other line). A request only leaves its fields behind; the
lines are formatted and scrubbed when their batch is written, each distinct
text scrubbed once per batch. The fields that are the same for every request
answered alike (an :class:`AccessLine`) are made into text once, so a hot answer
sent again reuses them.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

import orjson

from ..config import GatewayConfig, LogFormat
from ..requestid import REQUEST_ID

__all__ = [
    "ACCESS_LOG",
    "AccessLine",
    "GatewayLogHandler",
    "JsonFormatter",
    "RedactingStream",
    "Redactor",
    "TextFormatter",
    "access_writer",
    "configure_logging",
    "logging_configured",
    "secrets_of",
]

ACCESS_LOG = "gateway.access"
"""The logger of access lines."""
_ACCESS_LOGGER = logging.getLogger(ACCESS_LOG)
ACCESS_FLUSH = 0.2
"""Seconds an access line may wait to be written with the next ones."""
ACCESS_BATCH = 256
"""Access lines written at once, without waiting."""

REDACTED = "[redacted]"
_PID = os.getpid()
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_PATTERNS = (
    # Authorization: <anything up to the end of the value>
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,;}]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # scheme://user:password@host
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), rf"\1{REDACTED}@"),
)
_GATEWAY_MADE = frozenset({"method", "route", "cache", "remote", "request_id"})
"""Access-log fields the gateway itself produced or checked: no secret can be in them."""
_TRIGGERS = ("authorization", "bearer", "basic", "token", "://")
"""Words without which none of ``_PATTERNS`` can match."""
MIN_SECRET = 4
"""Shorter configured secrets are not searched for (they would mangle ordinary text)."""


def secrets_of(config: GatewayConfig) -> set[str]:
    """Every secret value in ``config``."""
    found: set[str] = set()
    for upstream in config.upstreams:
        if upstream.auth is None:
            continue
        if upstream.auth.bearer_token is not None:
            found.add(upstream.auth.bearer_token.get_secret_value())
        found.update(v.get_secret_value() for v in upstream.auth.headers.values())
    access = config.server.access
    found.update(t.get_secret_value() for t in [*access.tokens, *access.operator_tokens])
    if config.federation.cursor_secret is not None:
        found.add(config.federation.cursor_secret.get_secret_value())
    if config.cache.redis_url:
        password = urlsplit(config.cache.redis_url).password
        if password:
            found.add(password)
    return {s for s in found if len(s) >= MIN_SECRET}


class Redactor:
    """Removes secrets from text; it only ever learns more secrets, never forgets one.

    Cheap on text holding nothing to remove (every access log field): the
    configured secrets are one precompiled pattern, and the credential patterns
    run only on text containing a word they start with.
    """

    def __init__(self, secrets: set[str] | None = None) -> None:
        self.secrets: frozenset[str] = frozenset()
        self._known: re.Pattern[str] | None = None
        self.learn(set(secrets or ()))

    def learn(self, secrets: set[str]) -> None:
        self.secrets = self.secrets | secrets
        # Longest first, so a secret containing another is removed whole.
        ordered = sorted(self.secrets, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def scrub(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        lowered = text.lower()
        if any(word in lowered for word in _TRIGGERS):
            for pattern, replacement in _PATTERNS:
                text = pattern.sub(replacement, text)
        return text


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs what is written to it, then passes it on: the command
    line's standard output and error, so no command prints a secret."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self.stream = stream
        self.redactor = redactor

    def write(self, text: str) -> int:
        self.stream.write(self.redactor.scrub(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


@dataclass(frozen=True, slots=True)
class AccessLine:
    """What an access line says that is the same for every request answered alike:
    the message and the fields from ``method`` to ``cache``, also as JSON members."""

    message: str
    fields: dict[str, Any]
    members: str
    """``"message": ..., "pid": ..., "method": ...`` up to ``"cache"``, without braces."""

    @classmethod
    def of(cls, method: str, raw_path: str, route: str, status: int, size: int | None,
           cache: str | None) -> AccessLine:  # fmt: skip
        path, _, query = raw_path.partition("?")
        message = f"{method} {raw_path} {status}"
        fields = {
            "method": method,
            "path": path,
            "query": query or None,
            "route": route,
            "status": status,
            "bytes": size,
            "cache": cache,
        }
        members = orjson.dumps({"message": message, "pid": _PID, **fields})[1:-1].decode()
        return cls(message, fields, members)

    def record_fields(
        self, seconds: float, remote: str | None, user_agent: str | None, request_id: str
    ) -> dict[str, Any]:
        """Every field, as ``extra=`` of a log record of the line."""
        return {**self.fields, **_per_request(seconds, remote, user_agent, request_id)}


WaitingAccess = tuple[float, AccessLine, float, str | None, str | None, str]
"""An access line's time, fixed part, duration, remote, user agent and request id."""


def _per_request(
    seconds: float, remote: str | None, user_agent: str | None, request_id: str
) -> dict[str, Any]:
    return {
        "duration_ms": round(seconds * 1000, 2),
        "remote": remote,
        "user_agent": user_agent,
        "request_id": request_id,
    }


class Scrubbed:
    """Scrubbed texts for one batch of access lines: each distinct text (the fixed part of
    a hot answer's line, a user agent) is scrubbed once per batch, not once per line."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._texts: dict[str, str] = {}
        self._json: dict[str | None, str] = {}

    def text(self, text: str) -> str:
        clean = self._texts.get(text)
        if clean is None:
            clean = self._texts[text] = self.redactor.scrub(text)
        return clean

    def json(self, value: str | None) -> str:
        """``value`` scrubbed, as a JSON value."""
        clean = self._json.get(value)
        if clean is None:
            scrubbed = None if value is None else self.text(value)
            clean = self._json[value] = orjson.dumps(scrubbed).decode()
        return clean


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra=`` fields become keys."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._second = -1
        self._second_text = ""
        self._millis = -1
        self._millis_text = ""

    def _timestamp(self, created: float) -> str:
        millis = int(created * 1000)
        if millis == self._millis:  # a busy gateway writes many lines a millisecond
            return self._millis_text
        second = millis // 1000
        if second != self._second:  # formatted once per second, not once per line
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._second_text = second, stamp
        self._millis, self._millis_text = millis, f"{self._second_text}.{millis % 1000:03d}Z"
        return self._millis_text

    def access_line(self, waiting: WaitingAccess, scrubbed: Scrubbed) -> str:
        """An access line with the same keys as a record of it would have."""
        created, line, seconds, remote, user_agent, request_id = waiting
        json = scrubbed.json
        return (
            f'{{"ts":"{self._timestamp(created)}","level":"info","logger":"{ACCESS_LOG}",'
            f'{scrubbed.text(line.members)},"duration_ms":{round(seconds * 1000, 2)},'
            f'"remote":{json(remote)},"user_agent":{json(user_agent)},"request_id":{json(request_id)}}}'
        )

    def format(self, record: logging.LogRecord) -> str:
        scrub = self.redactor.scrub
        line: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "pid": record.process,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                if isinstance(value, str) and key not in _GATEWAY_MADE:
                    value = scrub(value)
                line[key] = value
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(line, default=lambda v: scrub(str(v))).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines, scrubbed like the JSON ones."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def access_line(self, waiting: WaitingAccess, scrubbed: Scrubbed) -> str:
        """An access line as a record of it would be formatted."""
        created, line, _, _, _, request_id = waiting
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        millis = int((created - int(created)) * 1000)
        message = scrubbed.text(line.message)
        return f"{stamp},{millis:03d} INFO {ACCESS_LOG} [{scrubbed.text(request_id)}]: {message}"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = REQUEST_ID.get()
        if request_id is not None:
            text = text.replace(": ", f" [{request_id}]: ", 1)
        return self.redactor.scrub(text)


class GatewayLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler ``serve`` installs; found again by :func:`configure_logging`.

    Besides records, it takes access lines (:meth:`access`) and writes them in batches.
    """

    def __init__(self) -> None:
        stream = sys.stderr
        if isinstance(stream, RedactingStream):  # lines are scrubbed once, by the formatter
            stream = stream.stream
        super().__init__(stream)
        self.redactor = Redactor()
        self._access: list[WaitingAccess] = []
        self._flush_soon: asyncio.TimerHandle | None = None

    def access(
        self,
        line: AccessLine,
        seconds: float,
        remote: str | None,
        user_agent: str | None,
        request_id: str,
    ) -> None:
        """Write one access line, soon."""
        self._access.append((time.time(), line, seconds, remote, user_agent, request_id))
        if len(self._access) >= ACCESS_BATCH:
            self.flush_access()
        elif self._flush_soon is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush_access()
            else:
                self._flush_soon = loop.call_later(ACCESS_FLUSH, self.flush_access)

    def flush_access(self) -> None:
        """Write the access lines waiting, formatted and scrubbed."""
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        waiting, self._access = self._access, []
        formatter = self.formatter
        if not waiting or not isinstance(formatter, JsonFormatter | TextFormatter):
            return
        scrubbed = Scrubbed(self.redactor)
        text = "\n".join([formatter.access_line(w, scrubbed) for w in waiting]) + "\n"
        self.acquire()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the stream is gone (shutdown): nothing to do
            pass
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        if self._access:  # keep lines in the order they happened
            self.flush_access()
        super().emit(record)

    def flush(self) -> None:
        if self._access:
            self.flush_access()
        super().flush()


def access_writer() -> GatewayLogHandler | None:
    """The handler to give access lines to directly, or ``None`` when they must go through
    ``logging`` (another handler listens, as in tests, or the access logger is quieted)."""
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not GatewayLogHandler:
        return None
    access = _ACCESS_LOGGER
    if access.handlers or not access.propagate or not access.isEnabledFor(logging.INFO):
        return None
    return handler


def configure_logging(config: GatewayConfig, level: str | None = None) -> None:
    """Install (or update, on reload) the gateway's root handler.

    ``level`` (the ``--log-level`` option) wins over ``logging.level``.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, GatewayLogHandler)), None)
    if handler is None:
        for old in list(root.handlers):
            root.removeHandler(old)
        handler = GatewayLogHandler()
        root.addHandler(handler)
    handler.redactor.learn(secrets_of(config))
    # Lines carry no caller, thread or process name: not computing them makes every log
    # call (one per request with the access log on) several microseconds cheaper.
    logging._srcfile = None  # the documented switch for caller lookup
    logging.logThreads = False
    logging.logMultiprocessing = False
    if config.logging.format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter(handler.redactor))
    else:
        handler.setFormatter(TextFormatter(handler.redactor))
    root.setLevel((level or config.logging.level).upper())


def logging_configured() -> bool:
    """Whether :func:`configure_logging` owns the root logger (so a reload may change it)."""
    return any(isinstance(h, GatewayLogHandler) for h in logging.getLogger().handlers)
