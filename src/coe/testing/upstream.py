"""A fake OpenAI-compatible upstream on loopback, for integration tests, fault tests and benchmarks.

Each request takes the next :class:`Behaviour` from its script (the last one repeats): answer normally
(streamed or not) at a given latency and token rate, or fail the ways real upstreams fail:

==================  ===========================================================================================
``status``          an HTTP error (``status``, default 500), with ``Retry-After`` when ``retry_after`` is set
``hang``            accept the request, then send nothing (a read timeout before the first byte)
``stall``           stream ``cut_after_chunks`` chunks, then send nothing more (a read timeout mid-stream)
``cut``             stream ``cut_after_chunks`` chunks, then drop the connection
``garbage``         a non-JSON body, or in a stream a chunk that is not JSON followed by binary noise
``slow_loris``      the whole response one byte every ``loris_interval_s`` (no read timeout ever fires)
==================  ===========================================================================================

A connect timeout can't be a per-request behaviour (the connection exists before the request): use
:class:`Blackhole`, a loopback address whose accept queue is full, so that connecting hangs. A refused
connection is any closed port (:func:`refused_url`).

Scripts can be per wire model name (``models={"m-wire": [...]}``), so that one upstream serves a failing
primary model and a healthy fallback. ``async with FakeUpstream(...)`` serves in the caller's event loop;
``with FakeUpstream(...)`` serves from its own thread (for synchronous tests and servers in other threads).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

Fault = Literal["none", "status", "cut", "garbage", "hang", "stall", "slow_loris"]


@dataclass(frozen=True)
class Behaviour:
    fault: Fault = "none"
    text: str = "Hello from the fake upstream."
    latency_s: float = 0.0  # before the first byte
    token_delay_s: float = 0.0  # between streamed chunks (1 / token rate)
    chunk_chars: int = 4
    status: int = 500  # for fault="status"
    retry_after: str | None = None
    cut_after_chunks: int = 2  # for fault="cut" and "stall"
    loris_interval_s: float = 1.0  # for fault="slow_loris": seconds between bytes
    echo_key: bool = False  # for fault="status": the error message quotes the caller's key, as some vendors do

    @staticmethod
    def at_rate(tokens_per_s: float, **kw: object) -> Behaviour:
        """A behaviour streaming ``tokens_per_s`` chunks a second."""
        return Behaviour(token_delay_s=1.0 / tokens_per_s if tokens_per_s > 0 else 0.0, **kw)  # type: ignore[arg-type]


class FakeUpstream:
    """``async with FakeUpstream([...]) as up: up.base_url`` → ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, script: Sequence[Behaviour] = (Behaviour(),), *,
                 models: Mapping[str, Sequence[Behaviour]] | None = None, port: int = 0,
                 record: bool = True) -> None:
        self.script = list(script)
        self.models = {k: list(v) for k, v in (models or {}).items()}
        self.requests: list[dict[str, object]] = []
        self.record = record
        self.port = port
        self.base_url = ""
        self.open_streams = 0
        self._counts: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._encoded: dict[tuple[str, str, int], tuple[list[bytes], bytes]] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def start(self) -> FakeUpstream:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> FakeUpstream:
        ready = threading.Event()
        failed: list[BaseException] = []

        async def serve() -> None:
            self._stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as e:  # reported to the caller's thread
                failed.append(e)
                ready.set()
                return
            ready.set()
            await self._stop.wait()
            await self.stop()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failed:
            raise failed[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    # ---- behaviour ----------------------------------------------------------------------------------

    def _next(self, model: str) -> Behaviour:
        script = self.models.get(model, self.script)
        key = model if model in self.models else ""
        n = self._counts.get(key, 0)
        self._counts[key] = n + 1
        return script[min(n, len(script) - 1)]

    def count(self, model: str | None = None) -> int:
        """Requests served for ``model`` (a key of ``models``), or for the default script."""
        return self._counts.get(model if model in self.models else "", 0) if model else self._counts.get("", 0)

    def _stream_bytes(self, model: str, b: Behaviour) -> tuple[list[bytes], bytes]:
        """The chunks of a normal streamed answer, encoded once per (model, text, chunking)."""
        key = (model, b.text, b.chunk_chars)
        hit = self._encoded.get(key)
        if hit is None:
            pieces = [b.text[i : i + b.chunk_chars] for i in range(0, len(b.text), b.chunk_chars)]
            chunks = [_chunk(model, {"content": p}) for p in pieces]
            usage = {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}
            tail = (_chunk(model, {}, finish="stop") + b"data: " + json.dumps(
                {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [], "usage": usage}).encode()
                + b"\n\ndata: [DONE]\n\n")
            hit = (chunks, tail)
            if len(self._encoded) < 1024:
                self._encoded[key] = hit
        return hit

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return web.json_response({"error": {"message": "request body is not a JSON object"}}, status=400)
        model = str(body.get("model", "fake"))
        b = self._next(model)
        if self.record:
            self.requests.append({"body": body, "headers": dict(request.headers)})
            if len(self.requests) > 10_000:
                del self.requests[:5_000]
        if b.latency_s:
            await asyncio.sleep(b.latency_s)
        if b.fault == "hang":
            await asyncio.sleep(3600)
        if b.fault == "status":
            headers = {"Retry-After": b.retry_after} if b.retry_after else {}
            message = f"injected {b.status}"
            if b.echo_key:
                message += f"; incorrect API key provided: {request.headers.get('Authorization', '')[7:]}"
            return web.json_response({"error": {"message": message, "type": "injected"}},
                                     status=b.status, headers=headers)
        if not body.get("stream"):
            if b.fault == "garbage":
                return web.Response(body=b"<html>not json\xff\xfe", content_type="application/json")
            if b.fault == "slow_loris":
                return await self._trickle(request, json.dumps(_completion(model, b.text)).encode(), b,
                                           "application/json")
            return web.json_response(_completion(model, b.text))
        chunks, tail = self._stream_bytes(model, b)
        if b.fault == "slow_loris":
            return await self._trickle(request, b"".join(chunks) + tail, b, "text/event-stream")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        self.open_streams += 1
        try:
            for n, chunk in enumerate(chunks):
                if n == b.cut_after_chunks and b.fault in ("cut", "stall"):
                    if b.fault == "stall":
                        await asyncio.sleep(3600)
                    assert request.transport is not None
                    request.transport.close()  # drop the connection mid-stream
                    return resp
                if b.fault == "garbage" and n == 1:
                    await resp.write(b"data: {this is not json\n\ndata: \xff\xfe\x00\x01garbage\n\n")
                await resp.write(chunk)
                if b.token_delay_s:
                    await asyncio.sleep(b.token_delay_s)
            await resp.write(tail)
            await resp.write_eof()
        except ConnectionResetError:  # the client went away (e.g. it gave up on garbage): normal for a fake
            return resp
        finally:
            self.open_streams -= 1
        return resp

    @staticmethod
    async def _trickle(request: web.Request, data: bytes, b: Behaviour, ctype: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        try:
            for i in range(len(data)):
                await resp.write(data[i : i + 1])
                await asyncio.sleep(b.loris_interval_s)
            await resp.write_eof()
        except ConnectionResetError:  # the client timed out and hung up, as it should
            pass
        return resp


class Blackhole:
    """A loopback address where connecting times out: a listening socket whose accept queue is full
    (Linux drops further SYNs instead of refusing them). ``with Blackhole() as bh: bh.base_url``."""

    def __init__(self) -> None:
        self.base_url = ""
        self._socks: list[socket.socket] = []

    def __enter__(self) -> Blackhole:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        addr = lst.getsockname()
        self._socks.append(lst)
        for _ in range(4):  # fill the accept queue; later connection attempts get no answer
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(addr)
            self._socks.append(c)
        time.sleep(0.05)
        self.base_url = f"http://{addr[0]}:{addr[1]}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self._socks:
            s.close()
        self._socks.clear()


def refused_url() -> str:
    """A loopback base URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


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
    """``python -m coe.testing.upstream --port P [--latency S] [--token-delay S | --tokens-per-s R]
    [--chunks N] [--fault F]``: serve until killed (benchmarks run it in its own process)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds before the first byte")
    ap.add_argument("--token-delay", type=float, default=0.005, help="seconds between chunks")
    ap.add_argument("--tokens-per-s", type=float, default=None, help="chunks per second (overrides --token-delay)")
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--fault", default="none", choices=["none", "status", "cut", "garbage", "hang", "stall",
                                                        "slow_loris"])
    a = ap.parse_args()
    delay = 1.0 / a.tokens_per_s if a.tokens_per_s else a.token_delay

    async def run() -> None:
        b = Behaviour(fault=a.fault, text="tok " * a.chunks, chunk_chars=4, latency_s=a.latency,
                      token_delay_s=delay)
        up = FakeUpstream([b], port=a.port, record=False)
        await up.start()
        print(f"ready {up.base_url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


if __name__ == "__main__":
    main()
