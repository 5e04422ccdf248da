"""Checking content against the checksums its upstream gives for it.

Upstreams spell checksum types many ways (``sha-256``, ``sha256``, ``SHA_256``,
``sha1``, ``md5``, ``blake2b-512``, GA4GH ``trunc512``). Content that matches
none of its checksums of a known type is refused as an upstream error, and so
is never cached or served; checksums of unknown types are ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from .errors import UpstreamBadResponse
from .trs.models import Checksum, FileWrapper

__all__ = ["SHA256", "digest_function", "has_sha256", "sha256_checksum", "verify", "with_sha256"]


def _trunc512(data: bytes) -> str:
    return hashlib.sha512(data).digest()[:24].hex()


def _hashlib(name: str) -> Callable[[bytes], str]:
    return lambda data: hashlib.new(name, data).hexdigest()


_ALGORITHMS: dict[str, Callable[[bytes], str]] = {
    "md5": _hashlib("md5"),
    "sha1": _hashlib("sha1"),
    "sha224": _hashlib("sha224"),
    "sha256": _hashlib("sha256"),
    "sha384": _hashlib("sha384"),
    "sha512": _hashlib("sha512"),
    "sha3256": _hashlib("sha3_256"),
    "sha3512": _hashlib("sha3_512"),
    "blake2b": _hashlib("blake2b"),
    "blake2b512": _hashlib("blake2b"),
    "blake2s": _hashlib("blake2s"),
    "blake2s256": _hashlib("blake2s"),
    "trunc512": _trunc512,
}


def digest_function(kind: str) -> Callable[[bytes], str] | None:
    """The digest for a checksum type in any spelling, or ``None`` if unknown."""
    return _ALGORITHMS.get("".join(c for c in kind.lower() if c.isalnum()))


SHA256 = "sha-256"
"""The checksum type the gateway gives every file (TRS's own spelling)."""


def has_sha256(checksums: Iterable[Checksum]) -> bool:
    return any(digest_function(c.type) is _ALGORITHMS["sha256"] for c in checksums)


def sha256_checksum(content: bytes) -> Checksum:
    return Checksum(checksum=hashlib.sha256(content).hexdigest(), type=SHA256)


def with_sha256(wrapper: FileWrapper, content: bytes | None = None) -> FileWrapper:
    """``wrapper`` with a ``sha-256`` checksum of ``content`` (or of its own content)
    added when it has none; unchanged when there is no content to hash."""
    if has_sha256(wrapper.checksum):
        return wrapper
    if content is None:
        if wrapper.content is None:
            return wrapper
        content = wrapper.content.encode()
    return wrapper.model_copy(update={"checksum": [*wrapper.checksum, sha256_checksum(content)]})


def verify(upstream: str, what: str, content: bytes, checksums: Iterable[Checksum]) -> bool:
    """Raise if ``content`` contradicts a checksum; return whether any was checked."""
    checked = False
    for checksum in checksums:
        digest = digest_function(checksum.type)
        if digest is None:
            continue
        checked = True
        if digest(content).lower() != checksum.checksum.strip().lower():
            raise UpstreamBadResponse(
                upstream, f"{what} does not match its {checksum.type} checksum"
            )
    return checked
