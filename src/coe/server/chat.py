"""POST /v1/chat/completions — the hot path.

`ChatEndpoint` is a plain ASGI app that `CoeApp` calls before FastAPI's routing, middleware and dependency
machinery (FastAPI still declares the route, for the OpenAPI spec, and serves it the same way through
:func:`respond` if a request ever reaches it). Per request it reads the body, authenticates, validates with
the same pydantic model, waits for admission, and then either collects the run (JSON) or streams it
(:class:`SSEResponse`) with pre-encoded chunk prefixes, writing straight to the ASGI ``send``. A client that
goes away cancels the run and its upstream calls; the trace is stored with status ``cancelled``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from coe import jsonfast
from coe.api import RunCollector, check_question
from coe.errors import CoeError, InputError
from coe.events import (
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    StageFailed,
    StageFinished,
    StageStarted,
    Token,
)
from coe.orchestrator import open_run
from coe.server.errors import ApiError, from_coe_error, validation_error
from coe.server.limits import Overloaded
from coe.server.schemas import (
    MODE_MODELS,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    Usage,
)
from coe.server.state import AppState
from coe.store.keys import KeyInfo

log = logging.getLogger("coe.server")

MAX_BODY_BYTES = 16 * 1024 * 1024  # far above max_input_chars; larger bodies are refused unread
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]
DONE = b"data: [DONE]\n\n"


def conversation(messages: list[ChatMessage]) -> str:
    """The question the workflow answers: the last user turn, with instructions and earlier turns as context."""
    system = [m.text() for m in messages if m.role in ("system", "developer") and m.text().strip()]
    turns = [m for m in messages if m.role not in ("system", "developer") and m.text().strip()]
    if not turns:  # only instructions: answer them
        return "\n".join(system)
    users = [i for i, m in enumerate(turns) if m.role == "user"]
    last = users[-1] if users else len(turns) - 1
    earlier = turns[:last]
    parts = []
    if system:
        parts.append("Instructions: " + "\n".join(system))
    if earlier:
        parts.append("Conversation so far:\n" + "\n".join(f"{m.role.capitalize()}: {m.text()}" for m in earlier))
    question = turns[last].text()
    return "\n\n".join([*parts, "Current message: " + question]) if parts else question


def resolve(st: AppState, model: str, body: ChatCompletionRequest) -> tuple[str, list[str] | None, list[str] | None]:
    """Mode, team and fallbacks for a model name: coe-* modes, or any available catalog model as pass-through."""
    opts = body.coe
    team = list(opts.team) if opts and opts.team else None
    fallbacks = list(opts.fallbacks) if opts and opts.fallbacks is not None else None
    for mid in fallbacks or ():
        _available(st, mid, "coe.fallbacks")
    if model in MODE_MODELS:
        return MODE_MODELS[model], team, fallbacks
    _available(st, model, "model")
    return "direct", [model], fallbacks


def _available(st: AppState, model: str, param: str) -> None:
    info = st.pool.catalog.models.get(model)
    if info is None:
        raise ApiError(404, f"The model '{model}' does not exist; see GET /v1/models", code="model_not_found",
                       param=param)
    if not st.pool.is_available(info):
        raise ApiError(400, f"{model} is not available on this server (no API key configured)",
                       code="model_not_available", param=param)


def usage_of(totals: Any) -> Usage:
    return Usage(prompt_tokens=totals.usage.input_tokens, completion_tokens=totals.usage.output_tokens,
                 total_tokens=totals.usage.total_tokens)


def parse_body(raw: bytes) -> ChatCompletionRequest:
    """The request model from raw bytes, with FastAPI's error shape (stdlib JSON keeps lone surrogates, which
    the model then replaces)."""
    try:
        data = json.loads(raw)
    except ValueError:  # also UnicodeDecodeError: binary input
        raise ApiError(400, "request body is not valid JSON", code="invalid_request") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply", code="invalid_request") from None
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as e:
        raise validation_error(e.errors(include_url=False)) from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply", code="invalid_request") from None


async def respond(st: AppState, body: ChatCompletionRequest, key: KeyInfo | None, receive: Receive,
                  t0: float) -> Response:
    """Run the request; a JSON response, or an SSE response that streams the run when sent."""
    mode, team, fallbacks = resolve(st, body.model, body)
    question = conversation(body.messages)
    limit = st.settings.file.server.max_input_chars
    if len(question) > limit:
        raise ApiError(400, f"input is {len(question):,} characters; this server accepts {limit:,}",
                       code="context_length_exceeded", param="messages")
    try:
        check_question(question)
    except InputError as e:
        raise ApiError(400, str(e), param="messages", code="invalid_request") from None
    cache_key = None
    if st.cache is not None and not body.stream and st.settings.file.server.cache_ttl_s:
        cache_key = hashlib.sha256(body.model_dump_json(exclude_none=True).encode()).hexdigest()
        cached = await st.cache.get(cache_key)
        if cached:
            return JSONResponse(json.loads(cached), headers={"X-CoE-Cache": "hit"})
    try:
        release = await st.admission.acquire()
    except Overloaded as e:
        raise ApiError(503, f"{e}; retry shortly", "server_error", code="overloaded",
                       headers={"Retry-After": "1"}) from None
    try:
        try:
            gen = await open_run(question, mode, pool=st.pool, store=st.store, settings=st.settings, team=team,
                                 fallbacks=fallbacks, router=st.router, max_tokens=body.token_cap,
                                 temperature=body.temperature, knowledge=st.knowledge)
        except CoeError as e:
            raise from_coe_error(e) from None
        try:
            first = await anext(gen)
        except CoeError as e:
            await gen.aclose()
            raise from_coe_error(e) from None
    except BaseException:
        release()
        raise
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return SSEResponse(st, body.model, first, gen, key, include_usage, release)
    try:
        collector = await _collect_or_cancel(st, first, gen, receive)
    finally:
        release()
    await st.charge(key, collector.totals.cost.total_usd)
    if collector.answer is None:
        raise ApiError(502, collector.error or "the run failed", "upstream_error", code="run_failed")
    final = collector.stages.get(collector.final)
    out = ChatCompletion(
        id=f"chatcmpl-{collector.run_id}", created=int(time.time()), model=body.model,
        choices=[Choice(message=AssistantMessage(content=collector.answer))], usage=usage_of(collector.totals),
        coe={"run_id": collector.run_id, "mode": collector.mode, "model": final.model if final else None,
             **dict(collector.extras.items()),
             "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
             "cost_usd": collector.totals.cost.total_usd,
             "stages": [{"stage": s.stage, "role": s.role, "model": s.model, "status": s.status,
                         "usage": s.usage, "cost_usd": s.cost_usd, "latency_ms": s.latency_ms, "error": s.error}
                        for s in collector.stages.values()]})
    text = out.model_dump_json(exclude_none=True)
    if cache_key and st.cache is not None:
        await st.cache.set(cache_key, text, st.settings.file.server.cache_ttl_s)
    return Response(text, media_type="application/json")


async def _collect_or_cancel(st: AppState, first: RunEvent, gen: AsyncIterator[RunEvent],
                             receive: Receive) -> RunCollector:
    task = asyncio.ensure_future(_collect(st, first, gen))
    watch = asyncio.ensure_future(receive())  # resolves when the client disconnects
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            msg = watch.result()
            if msg.get("type") == "http.disconnect":
                task.cancel()  # the client went away: cancel the upstream calls
                await asyncio.gather(task, return_exceptions=True)
                raise ApiError(499, "client closed the request", code="client_closed")
        return await task
    finally:
        watch.cancel()


async def _collect(st: AppState, first: RunEvent, gen: AsyncIterator[RunEvent]) -> RunCollector:
    c = RunCollector()
    c.add(first)
    try:
        async for ev in gen:
            st.metrics.observe(ev)
            c.add(ev)
    finally:
        await gen.aclose()  # type: ignore[attr-defined]
    return c


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
        return b"data: " + _json({**self.base, "choices": [], "usage": usage}) + b"\n\n"


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
                    pending.append(b"data: " + _json(err) + b"\n\n")
        except CoeError as e:  # e.g. the trace could not be stored: say so, in OpenAI's error shape
            pending.append(b"data: " + _json(from_coe_error(e).body()) + b"\n\n")
        state["done"] = True
        # [DONE] goes out with the end of the body, after the trace is committed (the run's last step): a client
        # that reads the trace next finds it, and the connection stays reusable.
        await out(DONE, more=False)
        return cost


def header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers") or ():
        if k == name:
            return str(v.decode("latin-1"))
    return ""


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ApiError(499, "client closed the request", code="client_closed")
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is larger than {limit // (1024 * 1024)} MiB",
                           code="request_too_large")
        chunks.append(chunk)
        if not msg.get("more_body", False):
            return b"".join(chunks)


class ChatEndpoint:
    """The ASGI app for POST /v1/chat/completions (see the module docstring)."""

    def __init__(self, state: AppState) -> None:
        self.st = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        resp: Response
        try:
            key = await self.st.authenticate_header(header(scope, b"authorization"))
            body = parse_body(await read_body(receive))
            resp = await respond(self.st, body, key, receive, t0)
        except ApiError as e:
            resp = e.response()
        except CoeError as e:
            resp = from_coe_error(e).response()
        except Exception:
            log.exception("unhandled error", extra={"request_id": (scope.get("state") or {}).get("request_id")})
            resp = ApiError(500, "internal error; see the server log", "server_error").response()
        state = scope.get("state")
        rid = state.get("request_id_header") if state else None
        if rid is not None:  # RequestContext(wrap_send=False): the header and the status are ours to give
            state["status"] = resp.status_code  # type: ignore[index]
            if isinstance(resp, SSEResponse):
                resp.extra_headers.append((b"x-request-id", rid))
            else:
                resp.headers["x-request-id"] = rid.decode("latin-1")
        await resp(scope, receive, send)


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
