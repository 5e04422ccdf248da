"""The gateway's root page: what this service is and where its APIs live."""

from __future__ import annotations

from aiohttp import web

from .keys import RUNTIME
from .trs.handlers import json_response

__all__ = ["setup_status"]


async def index(request: web.Request) -> web.Response:
    config = request.app[RUNTIME].config
    return json_response(
        {
            "service": "trs-gateway",
            "trs_base_paths": config.server.base_paths,
            "upstreams": [u.name for u in config.upstreams],
            "openapi": "/openapi.yaml",
        }
    )


def setup_status(app: web.Application) -> None:
    app.router.add_get("/", index)
