"""A lean TRS upstream for the benchmarks: configurable latency, catalogue size and body size.

    python -m bench.upstream --port 9001 [--delay 0.1] [--tools 5000] [--body-kb 1] [--hang]

Tools are ``T00000`` .. with one version ``1``; ``/tools`` pages by item offset and
sends ``next_page``; every descriptor is ``--body-kb`` KiB of CWL-looking text, distinct
per tool (so a cache holds one entry each). ``--hang`` never answers anything.
``GET /_bench/requests`` tells how many descriptor and listing requests it served;
``GET /_bench/fault?mode=ok|error|hang`` changes how it answers from then on.
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import web


def tool(i: int, base: str) -> dict[str, object]:
    tool_id = f"T{i:05d}"
    return {
        "id": tool_id,
        "url": f"{base}/tools/{tool_id}",
        "name": f"tool {i}",
        "organization": "bench",
        "toolclass": {"id": "Workflow", "name": "Workflow", "description": "a workflow"},
        "versions": [
            {
                "id": "1",
                "name": "1",
                "url": f"{base}/tools/{tool_id}/versions/1",
                "descriptor_type": ["CWL"],
            }
        ],
    }


def make_app(delay: float, tools: int, body_kb: int, hang: bool) -> web.Application:
    filler = ("# " + "x" * 78 + "\n") * max(1, body_kb * 1024 // 81)
    counts = {"descriptor": 0, "tools": 0}
    fault = {"mode": "hang" if hang else "ok"}

    async def pause() -> None:
        if fault["mode"] == "hang":
            await asyncio.sleep(3600)
        if fault["mode"] == "error":
            raise web.HTTPInternalServerError()
        if delay:
            await asyncio.sleep(delay)

    async def listing(request: web.Request) -> web.Response:
        counts["tools"] += 1
        await pause()
        base = f"http://{request.host}"
        offset = int(request.query.get("offset") or 0)
        limit = int(request.query.get("limit") or 1000)
        name = request.query.get("name")
        # Filtered, then paged, as registries do.
        matching = [i for i in range(tools) if not name or name in f"tool {i}"]
        chosen = [tool(i, base) for i in matching[offset : offset + limit]]
        headers = {}
        if offset + limit < len(matching):
            headers["next_page"] = f"{base}/tools?offset={offset + limit}&limit={limit}"
        return web.Response(
            body=orjson.dumps(chosen), content_type="application/json", headers=headers
        )

    async def one_tool(request: web.Request) -> web.Response:
        await pause()
        i = int(request.match_info["id"].lstrip("T") or 0)
        return web.Response(
            body=orjson.dumps(tool(i, f"http://{request.host}")), content_type="application/json"
        )

    async def descriptor(request: web.Request) -> web.Response:
        counts["descriptor"] += 1
        await pause()
        text = f"cwlVersion: v1.2\nclass: Workflow\nid: {request.match_info['id']}\n{filler}"
        if request.match_info["type"].upper().startswith("PLAIN"):
            return web.Response(text=text)
        return web.json_response({"content": text, "checksum": [], "url": None})

    async def service_info(request: web.Request) -> web.Response:
        return web.json_response({"id": "bench", "name": "bench"})

    async def requests_seen(request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def set_fault(request: web.Request) -> web.Response:
        fault["mode"] = request.query.get("mode", "ok")
        return web.json_response(fault)

    app = web.Application()
    app.router.add_get("/_bench/requests", requests_seen)
    app.router.add_get("/_bench/fault", set_fault)
    app.router.add_get("/service-info", service_info)
    app.router.add_get("/tools", listing)
    app.router.add_get("/tools/{id}", one_tool)
    app.router.add_get("/tools/{id}/versions/{v}/{type}/descriptor", descriptor)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--body-kb", type=int, default=1)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    web.run_app(
        make_app(args.delay, args.tools, args.body_kb, args.hang),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )
