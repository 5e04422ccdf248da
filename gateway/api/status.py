"""The gateway's root: a JSON index for API clients and a status page for people.

``GET /`` answers two representations of the same resource, chosen from the
request's ``Accept`` header:

* **JSON index** (``application/json``): the service name, version, TRS base
  paths, upstream names and where the OpenAPI document and readiness report
  live.  This is the answer unless the client clearly prefers HTML: no
  ``Accept`` header, ``*/*``, ``application/json``, or a tie between
  ``text/html`` and ``application/json`` all get JSON, so scripts and
  ``curl`` keep working unchanged.
* **Status page** (``text/html``): served when ``text/html`` has a strictly
  higher quality value than ``application/json`` (each taken from its most
  specific matching media range, ``type/subtype`` over ``type/*`` over
  ``*/*``).  Browsers send ``text/html,...,*/*;q=0.8`` and so get the page.

Both answers carry ``Vary: Accept`` so shared caches keep them apart.

The page is one self-contained HTML document (``gateway/static/status.html``,
inline CSS and JavaScript, no external assets) that fetches ``health/ready``
every few seconds and renders upstream states, latency, cache statistics and
the identity index.  Links to the TRS base paths are rendered server-side, so
the page is useful without JavaScript too.  Every response carries a fresh
nonce in a strict ``Content-Security-Policy`` that allows only the page's own
inline script and style and ``connect-src 'self'``.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Mapping
from importlib import resources

import orjson
from aiohttp import web

from .. import __version__
from ..config import GatewayConfig
from ..negotiation import prefers
from ..responses import json_response
from ..runtime import GENERATION

__all__ = ["StatusPage", "prefers_html", "render_page"]

REFRESH_SECONDS = 10
"""How often the page re-fetches the readiness report."""

_PLACEHOLDER = re.compile(r"__([A-Z_]+?)__")
_JSON_IN_SCRIPT = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def prefers_html(accept: str | None) -> bool:
    """Whether a client with this ``Accept`` header gets the HTML page rather than JSON."""
    return prefers(accept, "text/html")


def _relative(path: str) -> str:
    """``/ga4gh/trs/v2`` as a link relative to the root page, so the page keeps working
    when a proxy serves the gateway under a path prefix."""
    return path.lstrip("/")


def _links(base_paths: list[str]) -> str:
    """The server-rendered list of API entry points (escaped: base paths come from config)."""
    items = []
    for path in base_paths:
        shown = html.escape(path)
        href = html.escape(_relative(path))
        items.append(
            f'<li><span class="path">{shown}</span> '
            f'<a href="{href}/service-info">service-info</a> '
            f'<a href="{href}/tools">tools</a></li>'
        )
    return "\n".join(items)


def render_page(template: str, config: GatewayConfig, nonce: str) -> str:
    """Fill the template's ``__NAME__`` placeholders in one pass, so nothing inserted is
    itself expanded.

    The page's script gets the base paths and the configured upstreams' names, labels and
    flavors (never their URLs, which may carry credentials), so it can list the upstreams
    even when the readiness report has no per-upstream details."""
    base_paths = config.server.base_paths
    page_config = orjson.dumps(
        {
            "version": __version__,
            "base_paths": base_paths,
            "upstreams": [
                {"name": u.name, "label": u.label, "flavor": u.flavor.value}
                for u in config.upstreams
            ],
            "ready": "health/ready",
            "refresh_seconds": REFRESH_SECONDS,
        }
    ).decode()
    values: Mapping[str, str] = {
        "NONCE": nonce,
        "VERSION": html.escape(__version__),
        "CONFIG": page_config.translate(_JSON_IN_SCRIPT),
        "LINKS": _links(base_paths),
        "REFRESH": str(REFRESH_SECONDS),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


def content_security_policy(nonce: str) -> str:
    """Only this response's inline script and style run; fetches go to this origin only."""
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _serving(request: web.Request) -> GatewayConfig:
    return request[GENERATION].config


class StatusPage:
    """``GET /``; the page template is read when this is made, so a packaging mistake
    shows at startup rather than on the first browser visit."""

    def __init__(self, config_of: Callable[[web.Request], GatewayConfig] = _serving) -> None:
        template = resources.files("gateway") / "static" / "status.html"
        self.template = template.read_text(encoding="utf-8")
        self.config_of = config_of
        """The configuration a request is served with (its generation's, by default)."""

    async def index(self, request: web.Request) -> web.Response:
        return index(request, self.template, self.config_of(request))


def index(request: web.Request, template: str, config: GatewayConfig) -> web.Response:
    base_paths = config.server.base_paths
    if prefers_html(request.headers.get("Accept")):
        nonce = secrets.token_urlsafe(18)
        page = render_page(template, config, nonce)
        return web.Response(
            text=page,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": content_security_policy(nonce),
                "Vary": "Accept",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
    return json_response(
        {
            "service": "trs-gateway",
            "version": __version__,
            "trs_base_paths": base_paths,
            "upstreams": [u.name for u in config.upstreams],
            "openapi": "/openapi.yaml",
            "health": "/health/ready",
        },
        headers={"Vary": "Accept"},
    )
