"""The TRS client for one upstream, as the specification describes it.

:class:`Upstream` speaks TRS 2.0.1 exactly; each flavor module subclasses it
and overrides only where its registry deviates (how ids are encoded, how
listings page, what "not found" looks like). Every method returns plain JSON
values checked for shape; the federation layer turns them into gateway
responses.

Every call goes through :meth:`Upstream.request`, the one place that asks the
upstream's :class:`~.observer.CallObserver` (the circuit breaker) whether the
call may be made, passes the request id along, times the call, classifies its
outcome and reports it (health, circuit, metrics). Flavors change how a path
is fetched by overriding :meth:`Upstream.send`, never ``request``.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import orjson

from ..config import TRS_FILTERS, Flavor, UpstreamConfig
from ..errors import (
    NotFound,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ..ids import quote_segment
from ..requestid import HEADER as REQUEST_ID_HEADER
from ..requestid import REQUEST_ID
from ..trs.types import DescriptorType, Language
from .observer import CallObserver, CallOutcome, NullObserver, Outcome
from .transport import RawResponse, Transport

__all__ = ["UNNEEDED", "RawPage", "Upstream"]

JSON = Any

UNNEEDED = "trs-gateway: answer no longer needed"
"""The message a caller cancels an upstream call with when it just no longer needs the
answer (a speculative listing request): such a call is not counted as a timeout."""
DEFAULT_RETRY_AFTER = 5.0
"""Seconds a 429 without ``Retry-After`` pauses its upstream."""
MAX_RETRY_AFTER = 300.0
"""Longest pause an upstream's ``Retry-After`` can impose."""
JSON_INLINE_PARSE = 1024 * 1024
"""Bodies larger than this are parsed off the event loop."""
ZIP_INLINE_CHECK = 256 * 1024
"""Zips larger than this are checked off the event loop."""
MAX_ZIP_MEMBERS = 100_000


@dataclass(slots=True)
class RawPage:
    """Up to ``count`` tools from an upstream's own listing, and whether it ended."""

    items: list[dict[str, JSON]]
    exhausted: bool


class Upstream:
    """A TRS 2.0.1 registry that follows the specification."""

    flavor: ClassVar[Flavor] = Flavor.GENERIC
    native_filters: ClassVar[frozenset[str]] = TRS_FILTERS
    """Filters sent upstream; the gateway re-checks every filter on the results."""
    not_found_statuses: ClassVar[frozenset[int]] = frozenset({404, 410})
    serves_zip: ClassVar[bool] = True
    max_page_requests: ClassVar[int] = 20
    probe_path: ClassVar[str] = "/service-info"
    """What the health probe asks: cheap, and JSON (or a 4xx) on a working upstream."""

    def __init__(self, config: UpstreamConfig, transport: Transport) -> None:
        self.config = config
        self.transport = transport
        self.name = config.name
        self.native = self.native_filters - set(config.local_filters)
        self.observer: CallObserver = NullObserver()
        """Set by the running gateway (its monitor) before the first call."""
        self._turns = asyncio.Semaphore(config.max_connections)
        self._paused_until = 0.0
        self._sends_next_page = False
        """Whether this upstream has linked a next page: then a page without a link is
        its last, and no request has to find that out."""

    # -- paths -------------------------------------------------------------

    def encode(self, value: str) -> str:
        """One path segment as this upstream expects ids and versions encoded."""
        return quote_segment(value)

    def tool_path(self, tool_id: str) -> str:
        return f"/tools/{self.encode(tool_id)}"

    def version_path(self, tool_id: str, version: str) -> str:
        return f"{self.tool_path(tool_id)}/versions/{self.encode(version)}"

    def type_segment(self, dtype: DescriptorType) -> str:
        return dtype.canonical

    def relative_path(self, path: str) -> str:
        return quote_segment(path.lstrip("/"))

    def version_segment(self, version: Mapping[str, JSON]) -> str:
        """The ``{version_id}`` this upstream expects for one of its versions."""
        return str(version.get("id") or version.get("name") or "")

    # -- requests ----------------------------------------------------------

    async def request(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
        headers: Mapping[str, str] | None = None,
        *,
        probe: bool = False,
    ) -> RawResponse:
        """One call to the upstream, observed: refused while its circuit is open or
        while it asked the gateway to slow down, timed, classified (see
        :class:`~gateway.errors.Outcome`) and reported.

        At most ``max_connections`` calls are in flight; the time spent waiting
        for a turn is not the upstream's and is never counted against it. A 429,
        or a 503 with ``Retry-After``, pauses the upstream for that long and
        raises :class:`~gateway.errors.UpstreamRateLimited`. A 200 answer to a
        JSON request is parsed here (large ones off the event loop), so an
        unparseable body counts as a failed call; :meth:`parse_json` reuses the
        parsed value.
        """
        async with self._turns:
            self._check_pause(probe)
            self.observer.admit(self.name, probe=probe)
            request_id = REQUEST_ID.get()
            if request_id is not None:
                headers = {**(headers or {}), REQUEST_ID_HEADER: request_id}
            started = time.monotonic()
            try:
                response = await self.send(path, params, accept, headers)
                if response.status == 200 and accept == "application/json":
                    response.parsed = await _parse_json(response.body)
            except UpstreamError as exc:
                self._report(exc.reason, started, probe, exc, answered=False)
                raise
            except asyncio.CancelledError as exc:
                if exc.args and exc.args[0] == UNNEEDED:
                    raise  # the caller no longer needs the answer: nothing to hold against it
                # Abandoned by the fan-out deadline, the budget or a probe's timeout.
                elapsed = time.monotonic() - started
                abandoned = UpstreamTimeout(self.name, f"abandoned after {elapsed:.2f}s")
                self._report(Outcome.TIMEOUT, started, probe, abandoned, answered=False)
                raise
        outcome, error = self._classify(response, accept)
        self._report(outcome, started, probe, error, answered=True)
        if isinstance(error, UpstreamRateLimited):
            raise error
        return response

    def _check_pause(self, probe: bool) -> None:
        left = self._paused_until - time.monotonic()
        if left > 0 and not probe:
            raise UpstreamRateLimited(
                self.name, f"it asked to be left alone for {math.ceil(left)}s more", left
            )

    def _pause(self, response: RawResponse) -> UpstreamRateLimited | None:
        """The pause a 429 or 503 asks for (``Retry-After``), now in force."""
        header = response.headers.get("retry-after")
        if response.status == 503 and header is None:
            return None
        if response.status not in (429, 503):
            return None
        seconds = min(_retry_after(header, DEFAULT_RETRY_AFTER), MAX_RETRY_AFTER)
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        return UpstreamRateLimited(
            self.name, f"HTTP {response.status}: asked to slow down for {seconds:g}s", seconds
        )

    async def send(
        self,
        path: str,
        params: Mapping[str, str] | None,
        accept: str,
        headers: Mapping[str, str] | None,
    ) -> RawResponse:
        """Fetch ``path`` through the transport; flavors override how."""
        return await self.transport.get(path, params, accept, headers)

    async def probe(self) -> None:
        """One cheap call that tells whether the upstream answers at all.

        Made by the background health probe; it is also the one trial call a
        half-open circuit lets through. Its outcome is reported like any call.
        """
        await self.request(self.probe_path, probe=True)

    def _classify(self, response: RawResponse, accept: str) -> tuple[Outcome, UpstreamError | None]:
        status = response.status
        limited = self._pause(response)
        if limited is not None:
            return Outcome.RATE_LIMITED, limited
        if status >= 500:
            return Outcome.UNAVAILABLE, UpstreamUnavailable(self.name, f"HTTP {status}")
        if status == 200 and accept == "application/json" and response.parsed is None:
            kind = "HTML" if response.body.lstrip()[:1] == b"<" else "not JSON"
            return Outcome.BAD_RESPONSE, UpstreamBadResponse(self.name, f"answer is {kind}")
        if status in (404, 410):
            return Outcome.NOT_FOUND, None
        if status >= 400:
            return Outcome.CLIENT_ERROR, None
        return Outcome.OK, None

    def _report(
        self,
        outcome: Outcome,
        started: float,
        probe: bool,
        error: UpstreamError | None,
        *,
        answered: bool,
    ) -> None:
        self.observer.record(
            CallOutcome(
                upstream=self.name,
                outcome=outcome,
                seconds=time.monotonic() - started,
                answered=answered,
                probe=probe,
                error=error,
            )
        )

    def check(self, response: RawResponse, what: str) -> None:
        """Raise the gateway error an unsuccessful answer stands for."""
        status = response.status
        if status == 200:
            return
        if status in self.not_found_statuses:
            raise NotFound(f"{what} not found on upstream {self.name!r}")
        if status >= 500:
            raise UpstreamUnavailable(self.name, f"HTTP {status} for {what}")
        if status in (401, 403):
            raise UpstreamBadResponse(self.name, f"HTTP {status}: access to {what} refused")
        if status == 400:
            message = _error_message(response.body)
            raise NotFound(
                f"{what} not found on upstream {self.name!r}"
                + (f" (it answered: {message})" if message else "")
            )
        raise UpstreamBadResponse(self.name, f"unexpected HTTP {status} for {what}")

    def parse_json(self, response: RawResponse, what: str) -> JSON:
        if response.parsed is not None:
            return response.parsed[0]
        try:
            return orjson.loads(response.body)
        except orjson.JSONDecodeError:
            kind = "HTML" if response.body.lstrip()[:1] == b"<" else "not JSON"
            raise UpstreamBadResponse(self.name, f"{what}: answer is {kind}") from None

    async def get_json(self, path: str, what: str, params: Mapping[str, str] | None = None) -> JSON:
        response = await self.request(path, params)
        self.check(response, what)
        return self.parse_json(response, what)

    async def get_object(self, path: str, what: str) -> dict[str, JSON]:
        value = await self.get_json(path, what)
        if not isinstance(value, dict):
            raise self.wrong_shape(what, "an object", value)
        return value

    async def get_list(self, path: str, what: str) -> list[JSON]:
        value = await self.get_json(path, what)
        if not isinstance(value, list):
            raise self.wrong_shape(what, "a list", value)
        return value

    def wrong_shape(self, what: str, expected: str, value: JSON) -> UpstreamError:
        return UpstreamBadResponse(
            self.name, f"{what}: expected {expected}, got {type(value).__name__}"
        )

    # -- listing -----------------------------------------------------------

    def list_params(self, filters: Mapping[str, str]) -> dict[str, str]:
        """The filters this upstream applies itself, in its own spelling."""
        return {k: v for k, v in filters.items() if k in self.native}

    async def list_tools(
        self, filters: Mapping[str, str], start: int, count: int, enough: int | None = None
    ) -> RawPage:
        """Tools ``start`` .. ``start+count`` of the upstream's (filtered) listing.

        Item-index offsets, as every known registry but Dockstore uses. A short
        page ends the listing unless the upstream still offers ``next_page``
        (it capped our limit), in which case the rest is fetched, until
        ``enough`` tools are in (default: all ``count``). A full page ends the
        listing too when the upstream links its next pages but linked none.
        """
        enough = count if enough is None else min(enough, count)
        items: list[dict[str, JSON]] = []
        params = self.list_params(filters)
        for _ in range(self.max_page_requests):
            want = count - len(items)
            query = {**params, "offset": str(start + len(items)), "limit": str(want)}
            response = await self.request("/tools", query)
            if response.status == 204:
                return RawPage(items, exhausted=True)
            self.check(response, "tool listing")
            batch = self.parse_json(response, "tool listing")
            if not isinstance(batch, list):
                raise self.wrong_shape("tool listing", "a list", batch)
            items.extend(t for t in batch if isinstance(t, dict))
            pages_on = "next_page" in response.headers
            self._sends_next_page = self._sends_next_page or pages_on
            if len(items) >= count:
                # An upstream known to link its next page, that links none, has no more.
                ended = self._sends_next_page and not pages_on and len(items) == count
                return RawPage(items[:count], exhausted=ended)
            if not batch or not pages_on:
                return RawPage(items, exhausted=True)
            if len(items) >= enough:
                return RawPage(items, exhausted=False)
        return RawPage(items, exhausted=False)

    # -- single resources --------------------------------------------------

    async def get_tool(self, tool_id: str) -> dict[str, JSON]:
        return await self.get_object(self.tool_path(tool_id), f"tool {tool_id!r}")

    async def get_versions(self, tool_id: str) -> list[JSON]:
        return await self.get_list(
            f"{self.tool_path(tool_id)}/versions", f"versions of {tool_id!r}"
        )

    async def get_version(self, tool_id: str, version: str) -> dict[str, JSON]:
        return await self.get_object(
            self.version_path(tool_id, version), f"version {version!r} of {tool_id!r}"
        )

    def descriptor_path(
        self, tool_id: str, version: str, dtype: DescriptorType, relative: str | None
    ) -> str:
        path = f"{self.version_path(tool_id, version)}/{self.type_segment(dtype)}/descriptor"
        if relative is not None:
            path += "/" + self.relative_path(relative)
        return path

    async def get_descriptor(
        self, tool_id: str, version: str, language: Language, relative: str | None
    ) -> dict[str, JSON]:
        what = f"{language} descriptor {relative or '(primary)'} of {tool_id!r} {version!r}"
        path = self.descriptor_path(tool_id, version, DescriptorType(language), relative)
        return await self.get_object(path, what)

    async def get_plain_descriptor(
        self, tool_id: str, version: str, language: Language, relative: str | None
    ) -> bytes:
        """The raw file, for when the JSON wrapper carries no ``content``."""
        what = f"plain {language} descriptor {relative or '(primary)'} of {tool_id!r}"
        dtype = DescriptorType(language, plain=True)
        response = await self.request(
            self.descriptor_path(tool_id, version, dtype, relative), accept="text/plain"
        )
        self.check(response, what)
        return response.body

    async def get_files(self, tool_id: str, version: str, language: Language) -> list[JSON]:
        path = (
            f"{self.version_path(tool_id, version)}/{self.type_segment(DescriptorType(language))}"
        )
        return await self.get_list(f"{path}/files", f"{language} files of {tool_id!r} {version!r}")

    async def get_zip(self, tool_id: str, version: str, language: Language) -> bytes | None:
        """The upstream's own zip of a version's files, or ``None`` if it has none."""
        if not self.serves_zip:
            return None
        path = (
            f"{self.version_path(tool_id, version)}/{self.type_segment(DescriptorType(language))}"
        )
        response = await self.request(
            f"{path}/files",
            {"format": "zip"},
            accept="application/zip",
            headers={"Accept-Encoding": "identity"},
        )
        if response.status != 200:
            return None
        body = response.body
        if len(body) > ZIP_INLINE_CHECK:
            sane = await asyncio.to_thread(_is_zip, body, self.config.max_body_bytes)
        else:
            sane = _is_zip(body, self.config.max_body_bytes)
        return body if sane else None

    async def get_tests(self, tool_id: str, version: str, language: Language) -> list[JSON]:
        path = (
            f"{self.version_path(tool_id, version)}/{self.type_segment(DescriptorType(language))}"
        )
        return await self.get_list(f"{path}/tests", f"{language} tests of {tool_id!r} {version!r}")

    async def get_containerfile(self, tool_id: str, version: str) -> list[JSON]:
        path = f"{self.version_path(tool_id, version)}/containerfile"
        return await self.get_list(path, f"containerfile of {tool_id!r} {version!r}")

    async def get_tool_classes(self) -> list[JSON]:
        return await self.get_list("/toolClasses", "tool classes")

    async def get_service_info(self) -> dict[str, JSON] | None:
        return await self.get_object("/service-info", "service-info")

    async def close(self) -> None:
        await self.transport.close()


def _error_message(body: bytes) -> str | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return str(value["message"])[:200]
    return None


def _is_zip(body: bytes, max_bytes: int) -> bool:
    """Whether ``body`` is a readable zip whose files hold at most ``max_bytes`` in all.

    Reads the central directory only: nothing is inflated, so a zip bomb costs
    nothing but is refused by its declared sizes.
    """
    if not body.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    if len(members) > MAX_ZIP_MEMBERS:
        return False
    return sum(m.file_size for m in members) <= max_bytes


async def _parse_json(body: bytes) -> tuple[Any] | None:
    """The JSON value of ``body`` (parsed in a thread when large); ``None`` if not JSON."""
    try:
        if len(body) > JSON_INLINE_PARSE:
            return (await asyncio.to_thread(orjson.loads, body),)
        return (orjson.loads(body),)
    except orjson.JSONDecodeError:
        return None


def _retry_after(value: str | None, default: float) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        return default
    return max(0.0, when.timestamp() - time.time())
