"""POST /v1/chat/completions, GET /v1/models, GET /v1/coe/runs/{id}."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from coe.api import RunCollector, check_question
from coe.errors import CoeError, InputError
from coe.events import RunEvent, RunFailed, RunFinished, RunStarted, StageFailed, StageFinished, StageStarted, Token
from coe.orchestrator import run_request
from coe.retrieval.mindmap import build_tree
from coe.retrieval.mindmap import render as render_mindmap
from coe.server.errors import ApiError, from_coe_error
from coe.server.schemas import (
    MODE_MODELS,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ErrorResponse,
    ModelCard,
    ModelList,
    Usage,
)
from coe.server.state import AppState, app_state
from coe.store.keys import KeyInfo

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 429, 502, 503, 504)}


async def auth(request: Request) -> KeyInfo | None:
    return await app_state(request).authenticate(request)


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


def resolve(st: AppState, model: str, body: ChatCompletionRequest) -> tuple[str, list[str] | None]:
    """Mode and team for a model name: coe-* modes, or any available catalog model as pass-through."""
    team = list(body.coe.team) if body.coe and body.coe.team else None
    if model in MODE_MODELS:
        return MODE_MODELS[model], team
    info = st.pool.catalog.models.get(model)
    if info is None:
        raise ApiError(404, f"The model '{model}' does not exist; see GET /v1/models", code="model_not_found",
                       param="model")
    if not st.pool.is_available(info):
        raise ApiError(400, f"{model} is not available on this server (no API key configured)",
                       code="model_not_available", param="model")
    return "direct", [model]


def _usage(totals: Any) -> Usage:
    return Usage(prompt_tokens=totals.usage.input_tokens, completion_tokens=totals.usage.output_tokens,
                 total_tokens=totals.usage.total_tokens)


@router.get("/v1/models", response_model=ModelList, responses=ERRORS)
async def list_models(request: Request, _key: KeyInfo | None = Depends(auth)) -> ModelList:
    st = app_state(request)
    cards = [ModelCard(id=name, owned_by="coe", coe={"mode": mode}) for name, mode in MODE_MODELS.items()]
    for m in st.pool.available():
        cards.append(ModelCard(id=m.id, owned_by=m.vendor, coe={"name": m.name, "context_window": m.context_window,
                                                                 "strengths": list(m.strengths)}))
    return ModelList(data=cards)


@router.get("/v1/coe/runs/{run_id}", responses=ERRORS)
async def get_run(run_id: str, request: Request, _key: KeyInfo | None = Depends(auth)) -> dict[str, Any]:
    st = app_state(request)
    try:
        rec = await asyncio.to_thread(st.store.get_run, run_id)
    except InputError as e:
        raise ApiError(404, str(e), "not_found_error", code="run_not_found") from None
    d = asdict(rec)
    d["created_at"] = rec.created_at.isoformat()
    d["finished_at"] = rec.finished_at.isoformat() if rec.finished_at else None
    return d


@router.get("/v1/coe/runs/{run_id}/mindmap", responses={
    **ERRORS, 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}},
                                "text/plain": {"schema": {"type": "string"}}}}})
async def get_mindmap(run_id: str, request: Request, format: Literal["json", "svg", "mermaid", "markdown"] = "json",
                      by_model: bool = False, _key: KeyInfo | None = Depends(auth)) -> Any:
    """The run's answer as a mind map: a JSON tree, SVG, Mermaid ``mindmap`` text or a markdown outline.
    ``by_model=true`` asks the answering model for the tree (falling back to the answer's structure)."""
    st = app_state(request)
    try:
        rec = await asyncio.to_thread(st.store.get_run, run_id)
    except InputError as e:
        raise ApiError(404, str(e), "not_found_error", code="run_not_found") from None
    if not rec.answer:
        raise ApiError(404, f"run {run_id} has no answer", "not_found_error", code="no_answer")
    final = next((x.model for x in sorted(rec.stages, key=lambda x: -x.seq) if x.status == "ok"), None)
    tree, _ = await build_tree(rec.answer, rec.question, st.pool if by_model else None, final)
    if format == "json":
        return tree.as_dict()
    media = "image/svg+xml" if format == "svg" else "text/plain"
    return Response(render_mindmap(tree, format), media_type=media)


@router.post("/v1/chat/completions", response_model=ChatCompletion, response_model_exclude_none=True, responses={
    **ERRORS, 200: {"content": {"text/event-stream": {}}}})
async def chat_completions(body: ChatCompletionRequest, request: Request,
                           key: KeyInfo | None = Depends(auth)) -> Any:
    st = app_state(request)
    t0 = time.perf_counter()
    mode, team = resolve(st, body.model, body)
    question = conversation(body.messages)
    if len(question) > st.settings.file.server.max_input_chars:
        raise ApiError(400, f"input is {len(question):,} characters; this server accepts "
                            f"{st.settings.file.server.max_input_chars:,}", code="context_length_exceeded",
                       param="messages")
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
    gen = run_request(question, mode, pool=st.pool, store=st.store, settings=st.settings, team=team,
                      router=st.router, max_tokens=body.token_cap, temperature=body.temperature,
                      knowledge=st.knowledge)
    try:
        first = await anext(gen)
    except CoeError as e:
        await gen.aclose()  # type: ignore[attr-defined]
        raise from_coe_error(e) from None
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(_sse(st, body.model, first, gen, key, include_usage),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    task = asyncio.create_task(_collect(st, first, gen))
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        if not task.done() and await request.is_disconnected():
            task.cancel()  # the client went away: cancel the upstream calls
            await asyncio.gather(task, return_exceptions=True)
            raise ApiError(499, "client closed the request", code="client_closed")
    collector = task.result()
    await st.charge(key, collector.totals.cost.total_usd)
    if collector.answer is None:
        raise ApiError(502, collector.error or "the run failed", "upstream_error", code="run_failed")
    final = collector.stages.get(collector.final)
    out = ChatCompletion(
        id=f"chatcmpl-{collector.run_id}", created=int(time.time()), model=body.model,
        choices=[Choice(message=AssistantMessage(content=collector.answer))], usage=_usage(collector.totals),
        coe={"run_id": collector.run_id, "mode": collector.mode, "model": final.model if final else None,
             **{k: v for k, v in collector.extras.items()},
             "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
             "cost_usd": collector.totals.cost.total_usd,
             "stages": [{"stage": s.stage, "role": s.role, "model": s.model, "status": s.status,
                         "usage": s.usage, "cost_usd": s.cost_usd, "latency_ms": s.latency_ms, "error": s.error}
                        for s in collector.stages.values()]})
    if cache_key and st.cache is not None:
        await st.cache.set(cache_key, out.model_dump_json(exclude_none=True), st.settings.file.server.cache_ttl_s)
    return out


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


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any], coe: dict[str, Any] | None = None,
           finish: str | None = None) -> bytes:
    obj: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if coe is not None:
        obj["coe"] = coe
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


async def _sse(st: AppState, model: str, first: RunEvent, gen: AsyncIterator[RunEvent], key: KeyInfo | None,
               include_usage: bool) -> AsyncIterator[bytes]:
    assert isinstance(first, RunStarted)
    cid, created, final = f"chatcmpl-{first.run_id}", int(time.time()), first.final
    roles: dict[str, tuple[str, str]] = {}
    cost = 0.0
    streamed = ""
    st.metrics.open_streams.inc()
    try:
        yield _chunk(cid, created, model, {"role": "assistant", "content": ""},
                     {"event": "run_started", "run_id": first.run_id, "mode": first.mode, "route": first.route,
                      "team": list(first.team), "final_stage": final})
        async for ev in gen:
            st.metrics.observe(ev)
            if isinstance(ev, Token):
                role, m = roles.get(ev.stage, ("", ""))
                info = {"stage": ev.stage, "role": role, "model": m}
                field = "content" if ev.stage == final and not ev.reasoning else "reasoning_content"
                if field == "content":
                    streamed += ev.text
                yield _chunk(cid, created, model, {field: ev.text}, info)
            elif isinstance(ev, StageStarted):
                roles[ev.stage] = (ev.role, ev.model)
                info = {"event": "stage_started", "stage": ev.stage, "role": ev.role, "model": ev.model}
                delta = {} if ev.stage == final else {"reasoning_content": f"\n[{ev.stage} · {ev.role} · {ev.model}]\n"}
                yield _chunk(cid, created, model, delta, info)
            elif isinstance(ev, StageFinished):
                cost += ev.cost.total_usd
                yield _chunk(cid, created, model, {}, {
                    "event": "stage_finished", "stage": ev.stage, "role": ev.role, "model": ev.model,
                    "usage": {"input_tokens": ev.usage.input_tokens, "output_tokens": ev.usage.output_tokens},
                    "cost_usd": ev.cost.total_usd, "latency_ms": round(ev.latency_ms, 1)})
            elif isinstance(ev, StageFailed):
                yield _chunk(cid, created, model, {}, {
                    "event": "stage_failed", "stage": ev.stage, "role": ev.role, "model": ev.model,
                    "error": ev.error, "fallback_to": ev.fallback_to, "skipped": ev.skipped})
            elif isinstance(ev, RunFinished):
                if ev.extras:  # citations: the reference list (and any markers) came after the streamed text
                    tail = ev.answer[len(streamed):] if ev.answer.startswith(streamed) else ""
                    yield _chunk(cid, created, model, {"content": tail} if tail else {},
                                 {"event": "references", "answer": ev.answer, **ev.extras})
                yield _chunk(cid, created, model, {}, {"event": "run_finished", "run_id": ev.run_id}, finish="stop")
                if include_usage:
                    u = _usage(ev.totals).model_dump()
                    yield b"data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                                  "model": model, "choices": [], "usage": u}).encode() + b"\n\n"
            elif isinstance(ev, RunFailed):
                err = ApiError(502, ev.error, "upstream_error", code="run_failed").body()
                yield b"data: " + json.dumps(err, ensure_ascii=False).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    except CoeError as e:
        yield b"data: " + json.dumps(from_coe_error(e).body(), ensure_ascii=False).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        st.metrics.open_streams.dec()
        await gen.aclose()  # type: ignore[attr-defined]  # a client disconnect lands here: stages are cancelled
        await st.charge(key, cost)
