"""POST /v1/chat/completions (served by coe.server.chat), GET /v1/models, GET /v1/coe/runs/{id}."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from coe.errors import InputError
from coe.retrieval.mindmap import build_tree
from coe.retrieval.mindmap import render as render_mindmap
from coe.server.chat import conversation, resolve, respond
from coe.server.errors import ApiError
from coe.server.schemas import (
    MODE_MODELS,
    ChatCompletion,
    ChatCompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from coe.server.state import app_state
from coe.store.keys import KeyInfo

__all__ = ["ERRORS", "auth", "conversation", "resolve", "router"]

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 429, 502, 503, 504)}


async def auth(request: Request) -> KeyInfo | None:
    return await app_state(request).authenticate(request)


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
    """OpenAI chat completions over CoE's modes (`coe-*`) or any available catalog model (pass-through).

    `CoeApp` answers this path with `coe.server.chat.ChatEndpoint` before FastAPI's routing; this declaration
    gives the OpenAPI spec and serves the same way if a request does reach it."""
    return await respond(app_state(request), body, key, request.receive, time.perf_counter())
