"""The yardstick: a minimal aiohttp pass-through (no auth, no traces, no parsing), as in issue #10's reference.

    .venv/bin/python bench/reference_passthrough.py --port P --upstream http://127.0.0.1:U/v1

Forwards POST /v1/chat/completions to the upstream byte for byte over one shared aiohttp session. Whatever
it costs per request on this machine is the floor a gateway written in Python on aiohttp can reach, so
bench/server_overhead.py runs it beside `coe serve` to calibrate this machine against the issue's figures.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from aiohttp import web

HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


def make_app(upstream: str) -> web.Application:
    state: dict[str, aiohttp.ClientSession] = {}

    async def start(_app: web.Application) -> None:
        state["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)

    async def stop(_app: web.Application) -> None:
        await state["s"].close()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with state["s"].post(upstream + "/chat/completions", data=body,
                                   headers={"Content-Type": "application/json"}) as up:
            resp = web.StreamResponse(status=up.status, headers={
                k: v for k, v in up.headers.items() if k.lower() not in HOP})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def health(_r: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/healthz", health)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    a = ap.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(make_app(a.upstream.rstrip("/")), host="127.0.0.1", port=a.port, access_log=None, print=None,
                backlog=4096)


if __name__ == "__main__":
    main()
