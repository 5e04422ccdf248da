"""The baseline: bare aiohttp answering one response's bytes on every path.

python -m bench.bare PORT BODY_FILE [HEADERS_JSON_FILE]

It sends the body with the headers given (as the gateway sent them, so both
servers write the same bytes; aiohttp adds ``Date``, ``Server`` and
``Content-Length`` to both), or with only a ``Content-Type`` when none are given.
It runs on the event loop the gateway runs on (uvloop when installed, as
``server.event_loop: auto`` does), so the comparison is framework to framework.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    body = Path(sys.argv[2]).read_bytes()
    headers = json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else {}
    if not headers:
        headers = {"Content-Type": "text/plain"}

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    try:
        import uvloop
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, loop=loop
    )


if __name__ == "__main__":
    main()
