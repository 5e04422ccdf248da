"""The status page at ``/``: content negotiation, its security headers, and what a real
headless Chromium renders from a live gateway's readiness report."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from gateway.api.status import StatusPage, prefers_html, render_page
from gateway.app import create_app
from gateway.config import DEFAULT_BASE_PATHS
from tests.conftest import DEMO_REGISTRY, REPO, GatewayFactory, make_config
from tests.fakes import ServerFactory, start_registry
from tests.samples import dockstore_tools, workflowhub_tools

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "srcset", "poster", "data", "background"}
CHROMIUM_TIMEOUT = 90.0
WINDOW = (1280, 900)


# -- parsing the page -----------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page:
    """Every element of an HTML document with its attributes and its text content."""

    elements: list[Element] = field(default_factory=list)

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.elements if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"expected one element with id={element_id!r}, found {found}"
        return found[0]

    def text_of(self, element_id: str) -> str:
        return " ".join(self.by_id(element_id).text.split())

    def all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        for parent in self.open:  # element boundaries separate words, as when rendered
            parent.text += " "
        self.page.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                for parent in self.open:
                    parent.text += " "
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text += data


def parse(document: str) -> Page:
    collector = _Collector()
    collector.feed(document)
    collector.close()
    return collector.page


def csp_nonce(policy: str) -> str:
    match = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert match, policy
    return match[1]


def page_config(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(page.by_id("gateway-config").text)
    return value


# -- content negotiation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0, */*", False),
        ("application/*, text/html;q=0.9", False),
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("text/*, application/json;q=0.5", True),
        ("TEXT/HTML; q=1.0, application/json; q=0.2", True),
    ],
)
def test_html_only_when_the_client_prefers_it(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


async def test_api_clients_still_get_the_json_index(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    client = await gateway([demo_upstream])
    for headers in ({"Accept": "application/json"}, {"Accept": "*/*"}, {}):
        response = await client.get("/", headers=headers, skip_auto_headers=["Accept"])
        assert response.status == 200, headers
        assert response.content_type == "application/json", headers
        assert response.headers["Vary"] == "Accept"
        body = await response.json()
        assert body["trs_base_paths"] == list(DEFAULT_BASE_PATHS)
        assert body["upstreams"] == ["demo"]
        assert body["openapi"] == "/openapi.yaml"


async def test_browsers_get_a_self_contained_page_under_a_strict_policy(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    client = await gateway([demo_upstream])
    response = await client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.headers["Vary"] == "Accept"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    nonce = csp_nonce(policy)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == [f"'nonce-{nonce}'"]
    assert directives["style-src"] == [f"'nonce-{nonce}'"]
    assert directives["connect-src"] == ["'self'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy

    page = parse(await response.text())
    assert page.all("html")[0].attrs.get("lang") == "en"
    for element in page.elements:
        for name, value in element.attrs.items():
            if name in URL_ATTRIBUTES:
                assert not re.match(r"\s*(https?:)?//", value, re.I), (element.tag, name, value)
    assert not page.all("link", rel="stylesheet")
    scripts = page.all("script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert all("src" not in s.attrs for s in scripts)
    assert scripts[1].attrs["nonce"] == nonce
    assert [s.attrs.get("nonce") for s in page.all("style")] == [nonce]
    assert "__" not in nonce and "__NONCE__" not in await response.text()

    hrefs = {e.attrs["href"] for e in page.all("a")}
    for base in DEFAULT_BASE_PATHS:
        assert f"{base.lstrip('/')}/service-info" in hrefs
        assert f"{base.lstrip('/')}/tools" in hrefs
    assert {"openapi.yaml", "health/ready", "metrics"} <= hrefs
    assert page_config(page)["base_paths"] == list(DEFAULT_BASE_PATHS)
    assert page_config(page)["upstreams"] == [{"name": "demo", "label": None, "flavor": "static"}]
    assert page.all("th", scope="col"), "the upstream table has column headers"
    assert page.text_of("overall-text") == "Live status needs JavaScript", "replaced by the script"
    assert "health/ready" in {e.attrs.get("href") for e in page.all("a")}
    assert page.all("noscript")

    again = await client.get("/", headers={"Accept": "text/html"})
    assert csp_nonce(again.headers["Content-Security-Policy"]) != nonce, "a nonce per response"


async def test_the_linked_paths_exist(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    client = await gateway([demo_upstream])
    page = parse(await (await client.get("/", headers={"Accept": "text/html"})).text())
    links = page.all("a")
    assert len(links) >= 3 * len(DEFAULT_BASE_PATHS)
    for link in links:
        response = await client.get("/" + link.attrs["href"])
        assert response.status == 200, link.attrs["href"]


def test_configuration_cannot_break_out_of_the_page() -> None:
    hostile = "/x</script><script>alert(1)</script>"
    config = make_config(
        [
            {
                "name": "demo",
                "url": DEMO_REGISTRY.as_uri(),
                "flavor": "static",
                "label": "<b>Demo</b>&</script>",
            }
        ],
        server={"base_paths": [hostile]},
    )
    template = (REPO / "gateway" / "static" / "status.html").read_text()
    document = render_page(template, config, "n0nce")
    page = parse(document)
    assert len(page.all("script")) == 2
    assert not page.all("b")
    assert page_config(page)["base_paths"] == [hostile]
    assert page_config(page)["upstreams"][0]["label"] == "<b>Demo</b>&</script>"
    assert any(e.text == hostile for e in page.all("span")), "the path is shown as text"


# -- a real browser -----------------------------------------------------------------


def chromium_binary() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail(
            "chromium is not installed: the status page is tested in a real headless browser "
            "(Debian package chromium; .ci/run installs it)"
        )
    return binary


async def chromium(profile: Path, *args: str) -> str:
    """Run headless Chromium without blocking the loop (the gateway under test runs on it);
    return its stdout.  The process is killed if it outlives the timeout or the test fails."""
    process = await asyncio.create_subprocess_exec(
        chromium_binary(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LANG": "en_US.UTF-8", "TZ": "UTC"},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CHROMIUM_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode(errors="replace")[-4000:]
    return stdout.decode()


async def render(url: str, tmp_path: Path) -> Page:
    return parse(await chromium(tmp_path / "profile", "--dump-dom", url))


async def screenshot(url: str, path: Path, tmp_path: Path) -> None:
    await chromium(
        tmp_path / "profile",
        f"--screenshot={path}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        url,
    )


def png_facts(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values of the decoded image rows."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, width, height = 8, b"", 0, 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def row_of(page: Page, name: str) -> list[Element]:
    """The elements of the upstream table row for upstream ``name``."""
    rows = page.all("tr", data_upstream=name)
    assert len(rows) == 1, f"no single row for upstream {name!r}"
    start = page.elements.index(rows[0])
    following = page.elements[start + 1 :]
    end = next((i for i, e in enumerate(following) if e.tag == "tr"), len(following))
    return following[:end]


STATE_TEXT = {"up": "Up", "degraded": "Degraded", "down": "Down"}
FLAVORS = {"dockstore": "dockstore", "hub": "workflowhub"}


async def test_chromium_renders_the_live_gateway(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    chromium_binary()
    _, dock_url = await start_registry(aiohttp_server, "dockstore", dockstore_tools(2))
    hub, hub_url = await start_registry(aiohttp_server, "workflowhub", workflowhub_tools(1))
    hub.mode = "error500"
    config = make_config(
        [
            {"name": "dockstore", "url": dock_url, "flavor": "dockstore", "label": "Dockstore"},
            {"name": "hub", "url": hub_url, "flavor": "workflowhub", "timeout": 2},
        ]
    )
    server = await aiohttp_server(create_app(config))
    origin = str(server.make_url("/"))
    tool = quote("dockstore:#workflow/github.com/org/repo-000", safe="")
    async with aiohttp.ClientSession() as http:
        for path in (
            f"/ga4gh/trs/v2/tools/{tool}",
            f"/ga4gh/trs/v2/tools/{tool}",
            f"/api/ga4gh/trs/v2/tools/{tool}",
            "/ga4gh/trs/v2/tools/hub%3A100",
        ):
            async with http.get(origin + path.lstrip("/")) as response:
                await response.read()
        async with http.get(origin + "health/ready") as response:
            assert response.status in (200, 503), await response.text()
            report = await response.json()
    counts = report["cache"]["counts"]
    hits = sum(n for k, n in counts.items() if k.startswith("hit:"))
    misses = sum(n for k, n in counts.items() if k.startswith("miss:"))
    assert hits >= 1 and misses >= 1 and hits != misses, counts

    page = await render(origin, tmp_path)

    assert "hidden" in page.by_id("fetch-error").attrs, page.text_of("fetch-error")
    assert page.by_id("overall").attrs["data-state"] == report["status"]
    assert page.text_of("overall-text") not in {"Loading status…", "Status unknown"}
    assert page.text_of("updated") != "—", "the last-updated time is shown"
    assert page.text_of("cache-hits") == str(hits)
    assert page.text_of("cache-misses") == str(misses)
    assert page.text_of("cache-entries") == str(report["cache"]["memory"]["entries"])
    assert page.text_of("cache-ratio").endswith("%")
    assert page.text_of("redis-state").startswith("Disabled")
    assert page.text_of("identity-tools") == (
        str(report["identity"]["tools"]) if report.get("identity") else "—"
    )
    assert "Dockstore" in " ".join(e.text for e in row_of(page, "dockstore"))
    assert "hub" in " ".join(e.text for e in row_of(page, "hub"))
    reported = {u["name"]: u for u in report.get("upstreams", [])}
    for name in ("dockstore", "hub"):
        badges = [e for e in row_of(page, name) if e.attrs.get("class") == "badge"]
        if name in reported:  # the readiness report has per-upstream details
            state = reported[name]["state"]
            assert badges[0].attrs["data-value"] == state
            assert STATE_TEXT[state] in badges[0].text
        else:  # it does not (yet): every detail is a dash
            cells = [" ".join(e.text.split()) for e in row_of(page, name) if e.tag == "td"]
            assert cells == [FLAVORS[name], *["—"] * 7], cells
    hrefs = {e.attrs["href"] for e in page.all("a")}
    assert {"ga4gh/trs/v2/tools", "api/ga4gh/v2/service-info", "health/ready"} <= hrefs

    shot = tmp_path / "status.png"
    await screenshot(origin, shot, tmp_path)
    width, height, distinct = png_facts(shot)
    assert (width, height) == WINDOW
    assert distinct > 16, "the screenshot is blank"


# -- the full readiness report, served by a stand-in ----------------------------------

HOSTILE = '<img src=x onerror="document.title=1">timeout after 5 s & </td></tr>'
FULL_REPORT: dict[str, Any] = {
    "status": "degraded",
    "version": "0.1.0",
    "checked_at": "2026-11-21T10:00:00Z",
    "upstreams": [
        {
            "name": "dockstore",
            "label": "Dockstore",
            "flavor": "dockstore",
            "url": "https://dockstore.org/api/ga4gh/trs/v2",
            "state": "up",
            "circuit": "closed",
            "consecutive_failures": 0,
            "last_success": "2026-11-21T09:59:30Z",
            "last_error": None,
            "last_probe": "2026-11-21T09:59:30Z",
            "latency_ms": {"p50": 12.3, "p95": 40.1, "samples": 57},
            "harvest": {
                "state": "running",
                "tools_seen": 1200,
                "last_completed": "2026-11-21T07:00:00Z",
                "last_error": None,
            },
        },
        {
            "name": "workflowhub",
            "label": "WorkflowHub",
            "flavor": "workflowhub",
            "url": "https://workflowhub.eu/ga4gh/trs/v2",
            "state": "degraded",
            "circuit": "half-open",
            "consecutive_failures": 2,
            "last_success": "2026-11-21T09:55:00Z",
            "last_error": {
                "at": "2026-11-21T09:58:00Z",
                "reason": "http_502",
                "message": "bad gateway",
            },
            "last_probe": "2026-11-21T09:59:50Z",
            "latency_ms": {"p50": 310.0, "p95": 1530.0, "samples": 12},
            "harvest": {
                "state": "idle",
                "tools_seen": 480,
                "last_completed": "2026-11-21T08:00:00Z",
                "last_error": None,
            },
        },
        {
            "name": "biocontainers",
            "label": None,
            "flavor": "biocontainers",
            "url": "https://api.biocontainers.pro/ga4gh/trs/v2",
            "state": "down",
            "circuit": "open",
            "consecutive_failures": 7,
            "last_success": None,
            "last_error": {"at": "2026-11-21T09:59:58Z", "reason": "timeout", "message": HOSTILE},
            "last_probe": "2026-11-21T09:59:58Z",
            "latency_ms": {"p50": None, "p95": None, "samples": 0},
            "harvest": None,
        },
    ],
    "redis": {"status": "ok", "last_error": None},
    "cache": {
        "memory": {"entries": 12, "bytes": 34567},
        "counts": {"hit:memory": 3, "hit:redis": 1, "miss:upstream": 2, "stale:redis": 0},
        "fills": 2,
        "fill_errors": 0,
        "background_refreshes": 0,
    },
    "identity": {"backend": "redis", "tools": 1234, "groups": 56},
}


@dataclass
class Canned:
    """What the stand-in's ``/health/ready`` answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


async def stand_in(aiohttp_server: ServerFactory, canned: Canned) -> str:
    """The root page as the gateway serves it, beside a ``/health/ready`` that answers
    ``canned``: the page's rendering of reports the live gateway does not produce on
    demand (every upstream state, a 503, a broken answer).  Returns the server's origin."""
    app = web.Application()
    config = make_config(
        [
            {"name": "dockstore", "url": "https://dockstore.org/api/ga4gh/trs/v2"},
            {"name": "biocontainers", "url": "https://api.biocontainers.pro/ga4gh/trs/v2"},
        ]
    )
    app.router.add_get("/", StatusPage(lambda _: config).index)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(
            body=canned.body, status=canned.status, content_type=canned.content_type
        )

    app.router.add_get("/health/ready", ready)
    server = await aiohttp_server(app)
    return str(server.make_url("/"))


def cell_texts(page: Page, name: str) -> list[str]:
    return [" ".join(e.text.split()) for e in row_of(page, name) if e.tag in ("th", "td")]


async def test_chromium_renders_every_part_of_the_full_report(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    chromium_binary()
    origin = await stand_in(aiohttp_server, Canned(body=json.dumps(FULL_REPORT).encode()))
    page = await render(origin, tmp_path)

    assert page.by_id("overall").attrs["data-state"] == "degraded"
    assert page.text_of("overall-text") == "Degraded service"
    assert page.text_of("overall-detail") == "1 of 3 upstreams up, 1 down · Redis ok"
    dockstore = cell_texts(page, "dockstore")
    assert dockstore[0] == "Dockstore dockstore dockstore.org"
    assert dockstore[1:8] == [
        "dockstore",
        "✓ Up",
        "Closed",
        "12 ms",
        "40 ms 57 samples",
        "30 s ago",
        "—",
    ]
    assert dockstore[8] == "↻ Running 1,200 tools seen completed 3 h ago"
    hub = cell_texts(page, "workflowhub")
    assert hub[2:8] == [
        "! Degraded",
        "Half-open 2 consecutive failures",
        "310 ms",
        "1.53 s 12 samples",
        "5 min ago",
        "http_502 2 min ago bad gateway",
    ]
    bio = cell_texts(page, "biocontainers")
    assert bio[0].startswith("biocontainers ")
    assert bio[2:7] == ["✕ Down", "Open 7 consecutive failures", "—", "— 0 samples", "—"]
    assert bio[7] == " ".join(f"timeout just now {HOSTILE}".split())
    assert bio[8] == "—"
    assert not page.all("img"), "upstream text is never parsed as markup"
    assert page.all("title")[0].text == "trs-gateway status"

    assert page.text_of("cache-ratio") == "66.7 %"
    assert (page.text_of("cache-hits"), page.text_of("cache-misses")) == ("4", "2")
    assert page.text_of("cache-stale") == "0"
    assert page.text_of("cache-entries") == "12"
    assert page.text_of("cache-bytes") == "34 KiB"
    assert [" ".join(e.text.split()) for e in page.all("tr") if "memory" in e.text][-1] == (
        "memory 3 0 0"
    )
    assert page.text_of("redis-state") == "✓ OK"
    assert page.text_of("identity-tools") == "1,234"
    assert page.text_of("identity-groups") == "56"
    assert page.text_of("identity-backend") == "redis"
    assert page.text_of("checked") == "2026-11-21T10:00:00Z"

    shot = tmp_path / "status-full.png"
    await screenshot(origin, shot, tmp_path)
    width, height, distinct = png_facts(shot)
    assert (width, height) == WINDOW
    assert distinct > 16, "the screenshot is blank"


async def test_chromium_renders_a_503_report(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    chromium_binary()
    report = {
        **FULL_REPORT,
        "status": "unavailable",
        "upstreams": [{**u, "state": "down"} for u in FULL_REPORT["upstreams"]],
    }
    origin = await stand_in(aiohttp_server, Canned(503, json.dumps(report).encode()))
    page = await render(origin, tmp_path)
    assert page.by_id("overall").attrs["data-state"] == "unavailable"
    assert page.text_of("overall-text") == "Unavailable"
    assert page.text_of("overall-detail") == "0 of 3 upstreams up, 3 down · Redis ok · HTTP 503"
    assert "hidden" in page.by_id("fetch-error").attrs
    for name in ("dockstore", "workflowhub", "biocontainers"):
        assert cell_texts(page, name)[2] == "✕ Down"


async def test_chromium_says_so_when_the_report_cannot_be_read(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    chromium_binary()
    origin = await stand_in(
        aiohttp_server, Canned(502, b"<html>Bad Gateway</html>", content_type="text/html")
    )
    page = await render(origin, tmp_path)
    assert "hidden" not in page.by_id("fetch-error").attrs
    assert page.text_of("fetch-error").startswith(
        "Could not load the readiness report (health/ready): HTTP 502, not JSON."
    )
    assert page.text_of("overall-text") == "Status unknown"
    assert page.text_of("updated") == "—"
    assert [" ".join(e.text.split()) for e in page.all("th", scope="row")][:2] == [
        "dockstore",
        "biocontainers",
    ], "the configured upstreams are still listed"
