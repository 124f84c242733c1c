"""The streamed answer of POST /v1/chat/completions: OpenAI ``chat.completion.chunk`` events written straight
to the ASGI ``send``, and the one server-sent-events encoder the other streaming routes use."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from coe import jsonfast
from coe.errors import CoeError
from coe.events import RunEvent, RunFailed, RunFinished, RunStarted, StageFailed, StageFinished, StageStarted, Token
from coe.server.errors import ApiError, from_coe_error
from coe.server.schemas import Usage
from coe.server.state import AppState
from coe.store.keys import KeyInfo

log = logging.getLogger("coe.server")

SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]
DONE = b"data: [DONE]\n\n"


def sse_data(obj: Any) -> bytes:
    """One ``data:`` event: compact UTF-8 JSON (objects JSON does not know are written as strings)."""
    return b"data: " + jsonfast.dumps(obj, default=str) + b"\n\n"


def usage_of(totals: Any) -> Usage:
    return Usage(prompt_tokens=totals.usage.input_tokens, completion_tokens=totals.usage.output_tokens,
                 total_tokens=totals.usage.total_tokens)


_json = jsonfast.dumps


class ChunkEncoder:
    """``data: {chat.completion.chunk}\\n\\n`` lines. Token chunks are the hot path: their JSON is a prefix and
    a suffix encoded once per stage, with only the text escaped per token."""

    def __init__(self, cid: str, created: int, model: str) -> None:
        self.base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
        self.head = (b'data: {"id":' + _json(cid) + b',"object":"chat.completion.chunk","created":'
                     + str(created).encode() + b',"model":' + _json(model) + b',"choices":[{"index":0,'
                     b'"delta":{"')
        self.head_event = self.head[: -len(b'{"')]
        self._tails: dict[str, bytes] = {}

    def stage(self, stage: str, role: str, model: str) -> None:
        info = _json({"stage": stage, "role": role, "model": model})
        self._tails[stage] = b'},"finish_reason":null}],"coe":' + info + b"}\n\n"

    def token(self, stage: str, field: bytes, text: str) -> bytes:
        tail = self._tails.get(stage)
        if tail is None:
            self.stage(stage, "", "")
            tail = self._tails[stage]
        return self.head + field + b'":' + encode_basestring(text).encode("utf-8", "replace") + tail

    def event(self, delta: dict[str, Any], coe: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
        out = self.head_event + _json(delta) + (b',"finish_reason":' + _json(finish) + b"}]" if finish
                                                else b',"finish_reason":null}]')
        return out + (b',"coe":' + _json(coe) + b"}\n\n" if coe is not None else b"}\n\n")

    def usage(self, usage: dict[str, Any]) -> bytes:
        return sse_data({**self.base, "choices": [], "usage": usage})


CONTENT, REASONING = b"content", b"reasoning_content"


class SSEResponse(Response):
    """Streams a run as OpenAI chat.completion.chunk events, straight to the ASGI ``send``.

    ``delta.content`` carries the final stage's answer, ``delta.reasoning_content`` the other stages; every
    chunk has a ``coe`` object (stage events, run id, usage, cost). A disconnect cancels the run.
    (A Starlette Response only so that FastAPI passes it through; it sends itself.)"""

    media_type = "text/event-stream"

    def __init__(self, st: AppState, model: str, first: RunEvent, gen: AsyncIterator[RunEvent],
                 key: KeyInfo | None, include_usage: bool, release: Callable[[], None] = lambda: None) -> None:
        assert isinstance(first, RunStarted)
        self.st, self.model, self.first, self.gen, self.key = st, model, first, gen, key
        self.include_usage = include_usage
        self.release = release
        self.status_code = 200
        self.background = None
        self.extra_headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        state = {"done": False, "gone": False}

        def on_message(fut: asyncio.Future[Message]) -> None:
            if fut.cancelled() or fut.exception() is not None or state["done"]:
                return
            if fut.result().get("type") == "http.disconnect" and task is not None:
                state["gone"] = True
                task.cancel()

        watch = asyncio.ensure_future(receive())
        watch.add_done_callback(on_message)
        cost = 0.0
        self.st.metrics.open_streams.inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.extra_headers]})
            cost = await self._stream(send, state)
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            if task is not None:
                task.uncancel()  # the client went away: nothing left to send, finish quietly
        finally:
            state["done"] = True
            watch.cancel()
            self.st.metrics.open_streams.dec()
            self.release()
            try:
                await self.gen.aclose()  # type: ignore[attr-defined]  # a disconnect lands here: stages cancelled
                await self.st.charge(self.key, cost)
            except CoeError as e:  # e.g. the store went away: the client is gone or has its answer; say it once
                log.error(f"stream ended, but: {e}")

    async def _stream(self, send: Send, state: dict[str, bool]) -> float:
        first, st = self.first, self.st
        assert isinstance(first, RunStarted)
        enc = ChunkEncoder(f"chatcmpl-{first.run_id}", int(time.time()), self.model)
        final = first.final
        cost = 0.0
        streamed: list[str] = []
        fell_back = False  # the final stage's model failed after sending text: content needs the full answer

        pending: list[bytes] = []  # event chunks wait for the next token (or the end): one write instead of several

        async def out(data: bytes, more: bool = True) -> None:
            if pending:
                pending.append(data)
                data = b"".join(pending)
                pending.clear()
            await send({"type": "http.response.body", "body": data, "more_body": more})

        pending.append(enc.event({"role": "assistant", "content": ""}, {
            "event": "run_started", "run_id": first.run_id, "mode": first.mode, "route": first.route,
            "team": list(first.team), "final_stage": final}))
        try:
            async for ev in self.gen:
                if isinstance(ev, Token):
                    if ev.stage == final and not ev.reasoning:
                        streamed.append(ev.text)
                        await out(enc.token(ev.stage, CONTENT, ev.text))
                    else:
                        await out(enc.token(ev.stage, REASONING, ev.text))
                    continue
                st.metrics.observe(ev)
                if isinstance(ev, StageStarted):
                    enc.stage(ev.stage, ev.role, ev.model)
                    header_delta = {} if ev.stage == final else {
                        "reasoning_content": f"\n[{ev.stage} · {ev.role} · {ev.model}]\n"}
                    pending.append(enc.event(header_delta, {"event": "stage_started", "stage": ev.stage,
                                                            "role": ev.role, "model": ev.model}))
                elif isinstance(ev, StageFinished):
                    cost += ev.cost.total_usd
                    pending.append(enc.event({}, {
                        "event": "stage_finished", "stage": ev.stage, "role": ev.role, "model": ev.model,
                        "usage": {"input_tokens": ev.usage.input_tokens, "output_tokens": ev.usage.output_tokens},
                        "cost_usd": ev.cost.total_usd, "latency_ms": round(ev.latency_ms, 1)}))
                elif isinstance(ev, StageFailed):
                    delta: dict[str, Any] = {}
                    if ev.stage == final and ev.fallback_to and streamed:
                        # Text already sent can't be taken back: say plainly that the answer starts over.
                        fell_back = True
                        delta = {"content": f"\n\n[{ev.model} failed mid-answer; {ev.fallback_to} answers "
                                            "instead]\n\n"}
                        streamed.append(delta["content"])
                    await out(enc.event(delta, {  # a failure is news: sent at once
                        "event": "stage_failed", "stage": ev.stage, "role": ev.role, "model": ev.model,
                        "error": ev.error, "fallback_to": ev.fallback_to, "skipped": ev.skipped}))
                elif isinstance(ev, RunFinished):
                    sent = "".join(streamed)
                    if ev.extras:  # citations: the reference list (and any markers) came after the streamed text
                        tail = ev.answer[len(sent):] if ev.answer.startswith(sent) else ""
                        pending.append(enc.event({"content": tail} if tail else {},
                                                 {"event": "references", "answer": ev.answer, **ev.extras}))
                    done: dict[str, Any] = {"event": "run_finished", "run_id": ev.run_id}
                    if fell_back:
                        done["answer"] = ev.answer
                    pending.append(enc.event({}, done, finish="stop"))
                    if self.include_usage:
                        pending.append(enc.usage(usage_of(ev.totals).model_dump()))

                elif isinstance(ev, RunFailed):
                    err = ApiError(502, ev.error, "upstream_error", code="run_failed").body()
                    pending.append(sse_data(err))
        except CoeError as e:  # e.g. the trace could not be stored: say so, in OpenAI's error shape
            pending.append(sse_data(from_coe_error(e).body()))
        state["done"] = True
        # [DONE] goes out with the end of the body, after the trace is committed (the run's last step): a client
        # that reads the trace next finds it, and the connection stays reusable.
        await out(DONE, more=False)
        return cost
