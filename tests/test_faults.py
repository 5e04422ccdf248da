"""The fault matrix: a gateway in front of one healthy and one misbehaving registry.

"good" is a normal generic fake with three tools. "evil" is ``tests/fakes/faulty.py`` with one
fault switched on for every route (or, for "refused", a port where nothing listens); it is
configured with ``timeout: 1``, ``max_body_bytes: 1 MiB`` and a secret header, and the
federation with ``deadline: 2`` (fan-outs) and ``budget: 4`` (one resource). For every fault:

* ``test_listing``: ``GET /tools?limit=5`` is a 200 holding good's tools, within the deadline;
  a failing evil is named in ``X-TRS-Gateway-Missing`` (good never is) and the page is
  ``no-store``;
* ``test_single_resource``: evil's tool, descriptor and zip answer 200/404/502/503/504 (the
  status in ``CERTAIN`` where it is certain) within the budget; every error is a TRS error
  JSON that names evil, leaks no address of the fakes, and is ``no-store``.

A few tests look at one fault more closely (crlf, huge-listing, redirect-away). Every test
ends by closing the gateway and checking that it left no task and no file descriptor behind,
and that the canary (where "redirect-away" points) was never contacted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.conftest import GatewayFactory, free_port
from tests.fakes import FakeTool, ServerFactory, start_registry
from tests.fakes.faulty import FAULTS, Canary, FaultyRegistry, start_canary, start_faulty
from tests.samples import cwl_workflow_version

BASE = "/ga4gh/trs/v2"
DEADLINE = 2
BUDGET = 4
SECRET = "s3cret-canary"
MISSING = "X-TRS-Gateway-Missing"
REASONS = {"timeout", "unavailable", "bad-response", "rate-limited", "circuit-open"}
GOOD_TOOLS = ("g1", "g2", "g3")

ROUTES = {
    "tool": "/tools/evil%3AT1",
    "descriptor": "/tools/evil%3AT1/versions/1/PLAIN_CWL/descriptor",
    "zip": "/tools/evil%3AT1/versions/1/CWL/files?format=zip",
}
ALLOWED = {200, 404, 502, 503, 504}

# Status of every single-resource route of evil, where it is certain.
CERTAIN = {
    "refused": 502,
    "hang": 504,
    "trickle": 504,
    "500": 502,
    "503-retry-after": 503,
    "429": 503,
    "html": 502,
    "badjson": 502,
    "oversized": 502,
    "gzipbomb": 502,
    "redirect-loop": 502,
    "redirect-away": 502,
}
CERTAIN_FOR_TOOL = {"wrongshape": 502}
UNCERTAIN = ("reset", "nulls", "204", "crlf", "huge-listing", "huge-listing-all")
MATRIX = [*CERTAIN, *CERTAIN_FOR_TOOL, *UNCERTAIN]

# Faults after which evil may legitimately still contribute to a listing.
LISTING_MAY_SUCCEED = {"nulls", "204", "crlf", "huge-listing", "huge-listing-all"}
# Faults whose 503s must tell the client when to come back.
RETRY_AFTER = {"503-retry-after", "429"}

# aiohttp's per-connection tasks of the fake servers: they end a moment after the gateway
# has closed its connections.
FAKE_SERVER_TASKS = {"RequestHandler.start", "RequestHandler._handle_request"}
FD_SLACK = 3


def expected_status(fault: str, route: str) -> int | None:
    if route == "tool" and fault in CERTAIN_FOR_TOOL:
        return CERTAIN_FOR_TOOL[fault]
    return CERTAIN.get(fault)


# ---------------------------------------------------------------------- the bench


@dataclass
class Bench:
    client: TestClient[Any, Any]
    evil: FaultyRegistry | None  # None for "refused"
    canary: Canary
    fake_ports: set[int]


@asynccontextmanager
async def bench(
    aiohttp_server: ServerFactory, gateway: GatewayFactory, fault: str
) -> AsyncIterator[Bench]:
    """good + evil (+ the canary) and a gateway over them; on a clean exit, checks that the
    gateway left nothing behind and that the canary saw nothing."""
    good_tools = [FakeTool(id=i, name=i, versions=[cwl_workflow_version("1")]) for i in GOOD_TOOLS]
    _, good_url = await start_registry(aiohttp_server, "generic", good_tools)
    canary, canary_url = await start_canary(aiohttp_server)
    evil: FaultyRegistry | None = None
    if fault == "refused":
        evil_url = f"http://127.0.0.1:{free_port()}{BASE}"
    else:
        evil, evil_url = await start_faulty(aiohttp_server, fault, redirect_to=canary_url)
    ports = {URL(url).port for url in (good_url, canary_url, evil_url)}
    upstreams = [
        {"name": "good", "url": good_url, "flavor": "generic"},
        {
            "name": "evil",
            "url": evil_url,
            "flavor": "generic",
            "timeout": 1,
            "max_body_bytes": 1048576,
            "auth": {"headers": {"X-Api-Key": SECRET}},
        },
    ]

    tasks_before = set(asyncio.all_tasks())
    fds_before = open_fds()
    client = await gateway(upstreams, federation={"deadline": DEADLINE, "budget": BUDGET})
    try:
        yield Bench(client, evil, canary, {port for port in ports if port is not None})
    finally:
        await client.close()

    assert not any(SECRET in str(r.headers) for r in canary.requests), "the secret leaked"
    assert canary.connections == 0 and canary.requests == [], "the canary was contacted"
    assert leftover_tasks(tasks_before) == []
    # Then the fakes notice the gateway has gone: their connections end, descriptors close.
    for _ in range(40):
        if open_fds() <= fds_before + FD_SLACK and not leftover_tasks(tasks_before, fakes=True):
            break
        await asyncio.sleep(0.05)
    assert leftover_tasks(tasks_before, fakes=True) == []
    assert open_fds() <= fds_before + FD_SLACK


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def leftover_tasks(before: set[asyncio.Task[Any]], *, fakes: bool = False) -> list[str]:
    """Live tasks other than the test's own and those there before; the fake servers'
    connection tasks only with ``fakes``."""
    current = asyncio.current_task()
    names = (
        task.get_name() if not task.get_name().startswith("Task-") else task_code(task)
        for task in asyncio.all_tasks()
        if task is not current and task not in before and not task.done()
    )
    return sorted(name for name in names if fakes or name not in FAKE_SERVER_TASKS)


def task_code(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


# ---------------------------------------------------------------------- checks


async def timed_get(
    client: TestClient[Any, Any], path: str
) -> tuple[aiohttp.ClientResponse, bytes, float]:
    """The response, its whole body and the seconds both took; a dropped connection fails."""
    started = time.monotonic()
    try:
        response = await client.get(path)
        body = await response.read()
    except aiohttp.ClientError as exc:
        pytest.fail(f"GET {path}: the connection was dropped ({exc!r})")
    return response, body, time.monotonic() - started


def missing_upstreams(response: aiohttp.ClientResponse) -> dict[str, str]:
    """``X-TRS-Gateway-Missing`` as {name: reason}; its format and reasons are checked."""
    header = response.headers.get(MISSING)
    if header is None:
        return {}
    missing: dict[str, str] = {}
    for entry in header.split(","):
        match = re.fullmatch(r'"([a-z0-9][a-z0-9._-]*)";reason="([a-z-]+)"', entry.strip())
        assert match is not None, f"malformed {MISSING}: {header!r}"
        name, reason = match.groups()
        assert reason in REASONS, f"unknown reason in {MISSING}: {header!r}"
        missing[name] = reason
    return missing


def assert_no_injected_headers(response: aiohttp.ClientResponse) -> None:
    for name, value in response.raw_headers:
        assert b"\r" not in name + value and b"\n" not in name + value, (name, value)
    assert "X-Evil" not in response.headers


def assert_clean_error(response: aiohttp.ClientResponse, body: bytes, fake_ports: set[int]) -> None:
    """A TRS error that names evil, leaks no address of the fakes, and is not stored."""
    error = json.loads(body)
    assert isinstance(error, dict), body[:200]
    assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), error
    assert "evil" in error["message"], error
    text = body.decode("utf-8", "replace")
    assert "127.0.0.1" not in text, error
    assert not [port for port in fake_ports if str(port) in text], error
    assert "no-store" in response.headers.get("Cache-Control", ""), dict(response.headers)


# ---------------------------------------------------------------------- the matrix


def test_the_matrix_covers_every_fault_of_the_fake() -> None:
    assert sorted(MATRIX) == sorted({*FAULTS, "refused"} - {"none"})


@pytest.mark.parametrize("fault", MATRIX)
async def test_listing(aiohttp_server: ServerFactory, gateway: GatewayFactory, fault: str) -> None:
    async with bench(aiohttp_server, gateway, fault) as b:
        response, body, elapsed = await timed_get(b.client, f"{BASE}/tools?limit=5")

        assert response.status == 200, body[:300]
        listed = {tool["id"] for tool in json.loads(body)}
        assert {f"good:{name}" for name in GOOD_TOOLS} <= listed
        missing = missing_upstreams(response)
        assert "good" not in missing
        if fault not in LISTING_MAY_SUCCEED:
            assert "evil" in missing
        if missing:
            assert "no-store" in response.headers.get("Cache-Control", "")
        assert_no_injected_headers(response)
        assert elapsed <= DEADLINE + 1


@pytest.mark.parametrize("fault", MATRIX)
@pytest.mark.parametrize("route", ROUTES)
async def test_single_resource(
    aiohttp_server: ServerFactory, gateway: GatewayFactory, route: str, fault: str
) -> None:
    async with bench(aiohttp_server, gateway, fault) as b:
        response, body, elapsed = await timed_get(b.client, BASE + ROUTES[route])

        assert response.status in ALLOWED, body[:300]
        expected = expected_status(fault, route)
        if expected is not None:
            assert response.status == expected, body[:300]
        if response.status != 200:
            assert_clean_error(response, body, b.fake_ports)
        if response.status == 503 and fault in RETRY_AFTER:
            assert response.headers.get("Retry-After")
        assert_no_injected_headers(response)
        assert elapsed <= BUDGET + 1


# ---------------------------------------------------------------------- single faults up close


async def test_crlf_path_injects_no_header_and_a_broken_zip_is_not_cached(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    async with bench(aiohttp_server, gateway, "crlf") as b:
        statuses = []
        for _ in range(2):
            response, body, _ = await timed_get(b.client, BASE + ROUTES["zip"])
            assert response.status in (200, 502), body[:300]
            assert_no_injected_headers(response)
            statuses.append(response.status)
        assert statuses[0] == statuses[1]


async def test_redirect_away_never_reaches_the_canary(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    async with bench(aiohttp_server, gateway, "redirect-away") as b:
        for path in ("/tools?limit=5", *ROUTES.values()):
            await timed_get(b.client, BASE + path)
        assert b.evil is not None and b.evil.requests, "evil was never asked"
        assert not any(SECRET in str(r.headers) for r in b.canary.requests)
        assert b.canary.connections == 0 and b.canary.requests == []


async def test_health_answers_while_a_huge_listing_is_in_flight(
    aiohttp_server: ServerFactory, gateway: GatewayFactory
) -> None:
    async with bench(aiohttp_server, gateway, "huge-listing-all") as b:
        assert b.evil is not None
        asked = b.evil.request_count("/tools")
        listing = asyncio.ensure_future(timed_get(b.client, f"{BASE}/tools?limit=5"))
        for _ in range(200):
            if b.evil.request_count("/tools") > asked or listing.done():
                break
            await asyncio.sleep(0.01)
        while True:  # at least once, then for as long as the listing runs
            response, _, elapsed = await timed_get(b.client, "/health")
            assert response.status == 200 and elapsed < 1
            if listing.done():
                break
            await asyncio.sleep(0.05)
        await listing
