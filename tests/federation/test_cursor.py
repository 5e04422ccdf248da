"""Pagination cursors: opaque, signed, bound to their query."""

from __future__ import annotations

import base64

import orjson
import pytest

from gateway.errors import BadRequest
from gateway.federation.cursor import Cursor, StreamState, query_digest

KEY = b"k" * 32
NAMES = ["a", "b"]


def cursor() -> Cursor:
    digest = query_digest({"name": "x"}, NAMES)
    return Cursor(digest, {"a": StreamState(5, 3, False), "b": StreamState(9, 2, True)})


def test_cursor_round_trips() -> None:
    token = cursor().encode(KEY)
    back = Cursor.decode(token, KEY, cursor().query, NAMES)
    assert back.streams == cursor().streams


def test_tampered_payload_is_rejected() -> None:
    payload, sig = cursor().encode(KEY).split(".")
    body = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    body["s"]["a"][0] = 0
    forged = base64.urlsafe_b64encode(orjson.dumps(body)).rstrip(b"=").decode()
    with pytest.raises(BadRequest):
        Cursor.decode(f"{forged}.{sig}", KEY, cursor().query, NAMES)


def test_cursor_of_another_query_is_rejected() -> None:
    token = cursor().encode(KEY)
    other = query_digest({"name": "y"}, NAMES)
    with pytest.raises(BadRequest):
        Cursor.decode(token, KEY, other, NAMES)


def test_cursor_signed_with_another_key_is_rejected() -> None:
    token = cursor().encode(b"other")
    with pytest.raises(BadRequest):
        Cursor.decode(token, KEY, cursor().query, NAMES)


@pytest.mark.parametrize("garbage", ["12", "abc", ".", "a.b", "x" * 9000, "%%%.###"])
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(BadRequest):
        Cursor.decode(garbage, KEY, cursor().query, NAMES)
