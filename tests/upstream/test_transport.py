"""The upstream client stays inside its upstream: redirects, credentials, body limits,
rate limits."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, ServerFactory, start_registry
from tests.samples import cwl_workflow_version

BASE = "/ga4gh/trs/v2"
SECRET = "s3cret-key"


class Recorder:
    """A bare server that answers every path with a redirect, a body or a status, and
    records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.answer: Callable[[], web.Response] | None = None
        """Makes the answer to every request (a response object can be sent only once)."""
        self.redirect_to: str | None = None
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to + request.path_qs)
        if self.answer is not None:
            return self.answer()
        return web.json_response({"code": 404, "message": "no"}, status=404)


async def start(aiohttp_server: ServerFactory) -> tuple[Recorder, str]:
    recorder = Recorder()
    server = await aiohttp_server(recorder.app)
    return recorder, str(server.make_url("")).rstrip("/")


def upstream(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "evil",
        "url": url,
        "auth": {"headers": {"X-Api-Key": SECRET}},
        "timeout": 2,
        **extra,
    }


async def test_a_redirect_to_another_origin_is_refused_and_reaches_nobody(
    gateway: GatewayFactory, aiohttp_server: ServerFactory
) -> None:
    evil, evil_url = await start(aiohttp_server)
    canary, canary_url = await start(aiohttp_server)
    evil.redirect_to = canary_url
    client = await gateway([upstream(evil_url)], health={"probe_interval": 3600})
    response = await client.get(f"{BASE}/tools/evil%3AT1")
    assert response.status == 502
    body = await response.json()
    assert "redirect to another origin refused" in body["message"]
    assert "127.0.0.1" not in body["message"]
    assert canary.requests == []
    assert evil.requests and all(h.get("X-Api-Key") == SECRET for _, h in evil.requests)


async def test_redirects_within_the_origin_or_to_an_allowed_one_are_followed_without_credentials(
    gateway: GatewayFactory, aiohttp_server: ServerFactory
) -> None:
    registry, registry_url = await start_registry(
        aiohttp_server, "generic", [FakeTool(id="T1", versions=[cwl_workflow_version()])]
    )
    mirror, mirror_url = await start(aiohttp_server)
    mirror.redirect_to = registry_url  # a CDN in front of the registry: another origin
    client = await gateway(
        [upstream(mirror_url, allow_redirects_to=[registry_url.split("/ga4gh")[0]])],
        health={"probe_interval": 3600},
    )
    response = await client.get(f"{BASE}/tools/evil%3AT1")
    assert response.status == 200, await response.text()
    assert (await response.json())["id"] == "evil:T1"
    assert mirror.requests[-1][1].get("X-Api-Key") == SECRET
    sent = [r for r in registry.requests if r.path.endswith("/tools/T1")]
    assert sent and all("X-Api-Key" not in r.headers for r in sent)


async def test_bodies_over_the_limit_are_refused_after_decompression(
    gateway: GatewayFactory, aiohttp_server: ServerFactory
) -> None:
    evil, evil_url = await start(aiohttp_server)
    inflated = b'{"id": "T1", "pad": "' + b" " * (3 * 1024 * 1024) + b'"}'
    bomb = gzip.compress(inflated)
    evil.answer = lambda: web.Response(
        body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    client = await gateway(
        [upstream(evil_url, max_body_bytes=1024 * 1024)], health={"probe_interval": 3600}
    )
    response = await client.get(f"{BASE}/tools/evil%3AT1")
    assert response.status == 502
    assert "larger than 1048576 bytes" in (await response.json())["message"]


async def test_429_pauses_the_upstream_for_its_retry_after_and_clients_are_told(
    gateway: GatewayFactory, aiohttp_server: ServerFactory
) -> None:
    evil, evil_url = await start(aiohttp_server)
    evil.answer = lambda: web.Response(status=429, headers={"Retry-After": "30"})
    _good, good_url = await start_registry(aiohttp_server, "generic", [FakeTool(id="G1")])
    client = await gateway(
        [upstream(evil_url), {"name": "good", "url": good_url}],
        health={"probe_interval": 3600},
    )
    first = await client.get(f"{BASE}/tools/evil%3AT1")
    assert first.status == 503
    assert 29 <= int(first.headers["Retry-After"]) <= 30
    assert first.headers["Cache-Control"] == "no-store"
    asked = len(evil.requests)
    listing = await client.get(f"{BASE}/tools")
    assert listing.status == 200
    assert listing.headers["X-TRS-Gateway-Missing"] == '"evil";reason="rate-limited"'
    assert [t["id"] for t in await listing.json()] == ["good:G1"]
    again = await client.get(f"{BASE}/tools/evil%3AT2")
    assert again.status == 503 and "Retry-After" in again.headers
    assert len(evil.requests) == asked, "nothing is sent while the pause lasts"
    ready = await (await client.get("/health/ready")).json()
    evil_health = next(u for u in ready["upstreams"] if u["name"] == "evil")
    assert evil_health["failures"] == 0, "asking to slow down is not a failure"
