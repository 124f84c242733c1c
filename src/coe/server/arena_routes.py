"""Arena over HTTP: /v1/coe/arena/battles (JSON or SSE), votes, battles, leaderboard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, Field, StrictBool

from coe.arena.battles import BattleReady, BattleStarted, run_battle
from coe.arena.ratings import leaderboard
from coe.arena.repo import ArenaRepo
from coe.errors import CoeError, InputError, StoreError
from coe.events import event_dict
from coe.server.errors import ApiError, from_coe_error
from coe.server.openai_routes import ERRORS, auth
from coe.server.schemas import CleanModel, ErrorResponse
from coe.server.state import app_state
from coe.server.stream import DONE, sse_data
from coe.store.keys import KeyInfo

router = APIRouter(prefix="/v1/coe/arena")


class BattleRequest(CleanModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=20_000, pattern=r"[^\s\x00]")
    models: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*/\S+$", max_length=256)]] | None = Field(
        default=None, min_length=2, max_length=6, json_schema_extra={"uniqueItems": True})
    n: int = Field(default=3, ge=2, le=6)
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    stream: StrictBool = False


class VoteRequest(CleanModel):
    model_config = ConfigDict(extra="forbid")

    winner: str | int = Field(description="position (0-based), label A–F, a model of the battle, 'tie' or 'bad'")
    comment: str | None = Field(default=None, max_length=4000)
    voter: str | None = Field(default=None, max_length=128)


@router.post("/battles", responses={**ERRORS, 409: {"model": ErrorResponse}, 200: {"content": {
    "application/json": {"schema": {"type": "object"}}, "text/event-stream": {}}}})
async def create_battle(body: BattleRequest, request: Request, _key: KeyInfo | None = Depends(auth)) -> Any:
    st = app_state(request)
    gen = run_battle(body.prompt, pool=st.pool, store=st.store, models=body.models, n=body.n,
                     router=st.router, max_tokens=body.max_tokens)
    try:
        first = await anext(gen)
    except InputError as e:
        if str(e).startswith("unknown model"):
            raise ApiError(404, str(e), code="model_not_found", param="models") from None
        if "available models" in str(e):  # the request is fine; this server has too few models for it
            raise ApiError(409, str(e), code="not_enough_models", param="n") from None
        raise from_coe_error(e) from None
    except CoeError as e:
        raise from_coe_error(e) from None
    assert isinstance(first, BattleStarted)
    if body.stream:
        async def events() -> AsyncIterator[bytes]:
            try:
                yield sse_data(asdict(first))
                async for ev in gen:
                    if isinstance(ev, BattleReady):
                        yield sse_data({"type": "battle_ready", **ev.battle.public()})
                    else:
                        yield sse_data(event_dict(ev))  # type: ignore[arg-type]
                yield DONE
            except CoeError as e:
                yield sse_data(from_coe_error(e).body())
            finally:
                await gen.aclose()  # type: ignore[attr-defined]
        return StreamingResponse(events(), media_type="text/event-stream")
    ready = None
    async for ev in gen:
        if isinstance(ev, BattleReady):
            ready = ev.battle
    if ready is None:
        raise ApiError(502, "the battle did not finish", "upstream_error")
    return ready.public()


@router.get("/battles/{battle_id}", responses=ERRORS)
async def get_battle(battle_id: str, request: Request, _key: KeyInfo | None = Depends(auth)) -> Any:
    try:
        return (await asyncio.to_thread(ArenaRepo(app_state(request).store).get, battle_id)).public()
    except InputError as e:
        raise ApiError(404, str(e), "not_found_error", code="battle_not_found") from None


@router.post("/battles/{battle_id}/vote", responses=ERRORS)
async def vote(battle_id: str, body: VoteRequest, request: Request, key: KeyInfo | None = Depends(auth)) -> Any:
    repo = ArenaRepo(app_state(request).store)
    # The per-voter limit counts the caller's key: a name in the body can't spread one caller over many
    # "voters". Only in open mode (loopback, no keys) is the body's name taken as the voter.
    if key is not None:
        voter: str | None = f"key:{key.id}"
    else:
        voter = body.voter or (request.client.host if request.client else None)
    try:
        return (await asyncio.to_thread(repo.vote, battle_id, body.winner, comment=body.comment,
                                        voter=voter)).public()
    except InputError as e:
        status = 404 if str(e).startswith("no battle") else 400
        raise ApiError(status, str(e), code="invalid_vote") from None
    except StoreError:  # two votes raced: the unique constraint let one through
        current = await asyncio.to_thread(repo.get, battle_id)
        if current.winner is not None:
            raise ApiError(400, f"battle {battle_id} already has a vote", code="invalid_vote") from None
        raise


@router.get("/leaderboard", responses=ERRORS)
async def get_leaderboard(request: Request, category: str | None = None, bootstrap: int = 100,
                          _key: KeyInfo | None = Depends(auth)) -> Any:
    st = app_state(request)
    repo = ArenaRepo(st.store)
    votes = await asyncio.to_thread(repo.votes, category)
    if len({m for v in votes for m in v.models}) < 2:
        return {"category": category, "votes": len(votes), "models": [], "win_rate": {}}
    # Ratings only change with new votes: keep the last few boards (the bootstrap costs seconds on big logs).
    key = (category, max(0, min(bootstrap, 1000)), len(votes), hash(tuple((v.models, v.winner) for v in votes)))
    boards = st.boards
    if key not in boards:
        lb = await asyncio.to_thread(leaderboard, votes, bootstrap=key[1])
        if len(boards) >= 32:
            boards.pop(next(iter(boards)))
        boards[key] = {"category": category, "votes": len(votes), "models": lb.rows(), "win_rate": lb.win_rates()}
    return boards[key]
