"""Getting bytes from an upstream: over HTTP, or from a directory on disk.

A transport knows nothing about TRS. It turns a path below the upstream's base
URL into a :class:`RawResponse`, and turns network failures into the
gateway's upstream errors. Each HTTP upstream owns one ``ClientSession`` with
its own connection limit, timeout and credentials.
"""

from __future__ import annotations

import asyncio
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

MAX_BODY = 64 * 1024 * 1024
"""Largest upstream body accepted; bigger ones are a bad response, not an OOM."""


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


class HttpTransport:
    """One upstream over HTTP(S); ``path`` is already percent-encoded."""

    def __init__(self, config: UpstreamConfig, user_agent: str) -> None:
        self.name = config.name
        self.base = config.url
        headers = {"User-Agent": user_agent}
        if config.auth is not None:
            headers.update(config.auth.as_headers())
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=config.timeout, sock_connect=config.timeout),
            headers=headers,
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
        request_headers = {"Accept": accept, **(headers or {})}
        try:
            async with self.session.get(
                URL(target, encoded=True), headers=request_headers, allow_redirects=True
            ) as response:
                body = await _read_limited(response, self.name)
                return RawResponse(
                    status=response.status,
                    body=body,
                    content_type=response.content_type or "",
                    headers={k.lower(): v for k, v in response.headers.items()},
                    url=str(response.url),
                )
        except TimeoutError:
            raise UpstreamTimeout(self.name, "no answer within its timeout") from None
        except aiohttp.ClientConnectionError as exc:
            raise UpstreamUnavailable(self.name, f"connection failed: {exc}") from None
        except aiohttp.ClientPayloadError as exc:
            raise UpstreamBadResponse(self.name, f"truncated or corrupt body: {exc}") from None
        except aiohttp.ClientError as exc:
            raise UpstreamBadResponse(self.name, f"HTTP error: {exc}") from None

    async def close(self) -> None:
        await self.session.close()


async def _read_limited(response: aiohttp.ClientResponse, name: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise UpstreamBadResponse(name, f"body larger than {MAX_BODY} bytes")
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
            raise UpstreamUnavailable(self.name, f"cannot read {target}: {exc}") from None
        return RawResponse(status=200, body=body, content_type="application/json")

    async def close(self) -> None:
        return None


def make_transport(config: UpstreamConfig, user_agent: str) -> Transport:
    if config.is_file:
        return FileTransport(config)
    return HttpTransport(config, user_agent)
