"""A fake OpenAI-compatible upstream on loopback, for integration tests and benchmarks.

Each request takes the next :class:`Behaviour` from the script (the last one repeats): answer normally
(streamed or not) at a given latency and token rate, or fail in one of the ways real upstreams fail.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

Fault = Literal["none", "status", "cut", "garbage", "hang", "slow_loris"]


@dataclass(frozen=True)
class Behaviour:
    fault: Fault = "none"
    text: str = "Hello from the fake upstream."
    latency_s: float = 0.0  # before the first byte
    token_delay_s: float = 0.0  # between streamed chunks
    chunk_chars: int = 4
    status: int = 500  # for fault="status"
    retry_after: str | None = None
    cut_after_chunks: int = 2  # for fault="cut"


class FakeUpstream:
    """``async with FakeUpstream([...]) as up: up.base_url`` → ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, script: Sequence[Behaviour] = (Behaviour(),)) -> None:
        self.script = list(script)
        self.requests: list[dict[str, object]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def _next(self) -> Behaviour:
        return self.script[min(len(self.requests) - 1, len(self.script) - 1)]

    async def __aenter__(self) -> FakeUpstream:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"body": body, "headers": dict(request.headers)})
        b = self._next()
        if len(self.requests) > 10_000:
            del self.requests[:5_000]
        if b.latency_s:
            await asyncio.sleep(b.latency_s)
        if b.fault == "hang":
            await asyncio.sleep(3600)
        if b.fault == "status":
            headers = {"Retry-After": b.retry_after} if b.retry_after else {}
            return web.json_response({"error": {"message": f"injected {b.status}"}}, status=b.status,
                                     headers=headers)
        model = str(body.get("model", "fake"))
        if not body.get("stream"):
            if b.fault == "garbage":
                return web.Response(text="<html>not json", content_type="application/json")
            return web.json_response(_completion(model, b.text))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        if b.fault == "slow_loris":
            for byte in b"data: ":
                await resp.write(bytes([byte]))
                await asyncio.sleep(1.0)
        pieces = [b.text[i : i + b.chunk_chars] for i in range(0, len(b.text), b.chunk_chars)]
        for n, piece in enumerate(pieces):
            if b.fault == "cut" and n == b.cut_after_chunks:
                assert request.transport is not None
                request.transport.close()  # drop the connection mid-stream
                return resp
            if b.fault == "garbage" and n == 1:
                await resp.write(b"data: {this is not json\n\n")
            await resp.write(_chunk(model, {"content": piece}))
            if b.token_delay_s:
                await asyncio.sleep(b.token_delay_s)
        await resp.write(_chunk(model, {}, finish="stop"))
        usage = {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}
        await resp.write(b"data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "choices": [],
                                                 "usage": usage}).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _chunk(model: str, delta: dict[str, str], finish: str | None = None) -> bytes:
    obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def _completion(model: str, text: str) -> dict[str, object]:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text) // 4),
                      "total_tokens": 10 + max(1, len(text) // 4)}}


def main() -> None:
    """``python -m coe.testing.upstream --port P [--latency S] [--token-delay S] [--chunks N]``: serve until
    killed (benchmarks run it in its own process)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds before the first byte")
    ap.add_argument("--token-delay", type=float, default=0.005, help="seconds between chunks")
    ap.add_argument("--chunks", type=int, default=20)
    a = ap.parse_args()

    async def run() -> None:
        b = Behaviour(text="tok " * a.chunks, chunk_chars=4, latency_s=a.latency, token_delay_s=a.token_delay)
        up = FakeUpstream([b])
        app = web.Application()
        app.router.add_post("/v1/chat/completions", up._chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", a.port, backlog=4096).start()
        print(f"ready http://127.0.0.1:{a.port}/v1", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
