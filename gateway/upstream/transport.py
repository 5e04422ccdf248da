"""Getting bytes from an upstream: over HTTP, or from a directory on disk.

A transport knows nothing about TRS. It turns a path below the upstream's base
URL into a :class:`RawResponse`, and turns network failures into the
gateway's upstream errors. Each HTTP upstream owns one ``ClientSession`` with
its own connection limit, timeout and credentials.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlencode, urlsplit
from urllib.request import url2pathname

import aiohttp
from yarl import URL

from ..config import UpstreamConfig
from ..errors import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable

__all__ = ["FileTransport", "HttpTransport", "RawResponse", "Transport", "make_transport"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RawResponse:
    status: int
    body: bytes
    content_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    parsed: tuple[Any] | None = None
    """The JSON value of ``body``, once :meth:`Upstream.request` has parsed it."""


class Transport(Protocol):
    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse: ...

    async def close(self) -> None: ...


MAX_REDIRECTS = 5


def _origin(url: URL) -> str:
    return f"{url.scheme}://{url.raw_authority}".lower()


class HttpTransport:
    """One upstream over HTTP(S); ``path`` is already percent-encoded.

    The client stays inside its upstream: redirects are followed (at most
    :data:`MAX_REDIRECTS`) only to the upstream's own origin and the origins in
    ``allow_redirects_to``, and the configured credentials go only to the
    upstream's own origin. A body larger than ``max_body_bytes`` (after
    decompression) is refused while it streams. Errors name the upstream and
    the reason; the address and the library's words go to the log only.
    """

    def __init__(self, config: UpstreamConfig, user_agent: str) -> None:
        self.name = config.name
        self.base = config.url
        self.origin = _origin(URL(config.url))
        self.allowed = {self.origin, *config.allow_redirects_to}
        self.max_body = config.max_body_bytes
        self.credentials = config.auth.as_headers() if config.auth is not None else {}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=config.timeout, sock_connect=config.timeout),
            headers={"User-Agent": user_agent},
            auto_decompress=True,
            raise_for_status=False,
        )

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        target = self.base + path
        if params:
            target += "?" + urlencode(params, safe="")
        url = URL(target, encoded=True)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                request_headers = {"Accept": accept, **(headers or {})}
                if _origin(url) == self.origin:
                    request_headers.update(self.credentials)
                async with self.session.get(
                    url, headers=request_headers, allow_redirects=False
                ) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        url = self._redirect(url, response.headers.get("Location"))
                        continue
                    body = await _read_limited(response, self.name, self.max_body)
                    return RawResponse(
                        status=response.status,
                        body=body,
                        content_type=response.content_type or "",
                        headers={k.lower(): v for k, v in response.headers.items()},
                        url=str(response.url),
                    )
            raise UpstreamBadResponse(self.name, f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            raise UpstreamTimeout(self.name, "no answer within its timeout") from None
        except aiohttp.ClientConnectionError as exc:
            log.info("upstream %s: connection to %s failed: %s", self.name, url, exc)
            raise UpstreamUnavailable(self.name, "connection failed") from None
        except aiohttp.ClientPayloadError as exc:
            log.info("upstream %s: corrupt body from %s: %s", self.name, url, exc)
            raise UpstreamBadResponse(self.name, "truncated or corrupt body") from None
        except aiohttp.ClientError as exc:
            log.info("upstream %s: HTTP error from %s: %s", self.name, url, exc)
            raise UpstreamBadResponse(self.name, f"HTTP error ({type(exc).__name__})") from None

    def _redirect(self, url: URL, location: str | None) -> URL:
        if not location:
            raise UpstreamBadResponse(self.name, "redirect without a Location")
        try:
            target = url.join(URL(location))
        except ValueError:
            raise UpstreamBadResponse(self.name, "redirect to an invalid URL") from None
        if target.scheme not in ("http", "https") or _origin(target) not in self.allowed:
            log.warning(
                "upstream %s redirected to %s, outside its allowed origins %s; refused",
                self.name,
                target,
                sorted(self.allowed),
            )
            raise UpstreamBadResponse(self.name, "redirect to another origin refused")
        return target

    async def close(self) -> None:
        await self.session.close()


async def _read_limited(response: aiohttp.ClientResponse, name: str, limit: int) -> bytes:
    declared = response.content_length
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    if declared is not None and declared > limit and not encoded:
        raise UpstreamBadResponse(name, f"answer larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise UpstreamBadResponse(name, f"answer larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_NOT_FOUND = RawResponse(status=404, body=b"", content_type="text/plain")


class FileTransport:
    """A static TRS tree in a local directory (``file:`` upstream URL).

    ``path`` maps to ``<root>/<path>``, or ``<root>/<path>/index.json`` for a
    directory, like a static web host; a missing file is a 404, and nothing
    outside the root is ever read.
    """

    def __init__(self, config: UpstreamConfig) -> None:
        self.name = config.name
        self.root = Path(url2pathname(urlsplit(config.url).path)).resolve()

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        # Segments were percent-encoded by the caller and are stored encoded
        # on disk too, so a '/' inside an id can never become a directory step.
        segments = [s for s in path.split("/") if s]
        if any(unquote(s) in (".", "..") for s in segments):
            return _NOT_FOUND
        target = self.root.joinpath(*segments)
        if not target.is_relative_to(self.root):
            return _NOT_FOUND
        if target.is_dir():
            target = target / "index.json"
        try:
            body = await asyncio.to_thread(target.read_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return _NOT_FOUND
        except OSError as exc:
            log.warning("upstream %s: cannot read %s: %s", self.name, target, exc)
            raise UpstreamUnavailable(self.name, "a file of its tree cannot be read") from None
        return RawResponse(status=200, body=body, content_type="application/json")

    async def close(self) -> None:
        return None


def make_transport(config: UpstreamConfig, user_agent: str) -> Transport:
    if config.is_file:
        return FileTransport(config)
    return HttpTransport(config, user_agent)
