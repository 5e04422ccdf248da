"""The baseline: bare aiohttp answering one file's bytes on every path.

python -m bench.bare PORT FILE

It runs on the event loop the gateway runs on (uvloop when installed, as
``server.event_loop: auto`` does), so the comparison is framework to framework.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    body = Path(sys.argv[2]).read_bytes()

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

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
