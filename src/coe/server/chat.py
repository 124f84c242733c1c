"""POST /v1/chat/completions — the hot path.

`ChatEndpoint` is a plain ASGI app that `CoeApp` calls before FastAPI's routing, middleware and dependency
machinery (FastAPI still declares the route, for the OpenAPI spec, and serves it the same way through
:func:`respond` if a request ever reaches it). Per request it reads the body, authenticates, validates with
the same pydantic model, waits for admission, and then either collects the run (JSON) or streams it
(:class:`coe.server.stream.SSEResponse`, chunk prefixes encoded once, written straight to the ASGI ``send``).
A client that goes away cancels the run and its upstream calls; the trace is stored with status ``cancelled``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from coe.api import RunCollector, check_question
from coe.errors import CoeError, InputError
from coe.events import RunEvent
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
)
from coe.server.state import AppState
from coe.server.stream import SSEResponse, usage_of
from coe.store.keys import KeyInfo

log = logging.getLogger("coe.server")

MAX_BODY_BYTES = 16 * 1024 * 1024  # far above max_input_chars; larger bodies are refused unread


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
