"""The web UI: a static single-page app served at /, plus the small JSON endpoints it reads.

The pages are plain HTML, CSS and ES modules in ``static/`` (no build step, nothing fetched from a CDN):
chat (``/``), arena (``/arena``), leaderboard (``/leaderboard``) and run history (``/runs``, ``/runs/{id}``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from coe import __version__
from coe.catalog import CATEGORIES
from coe.server.openai_routes import ERRORS, auth
from coe.server.schemas import MODE_MODELS
from coe.server.state import app_state
from coe.store.keys import KeyInfo

STATIC = Path(__file__).parent / "static"
PAGES = ("/", "/chat", "/arena", "/leaderboard", "/runs")
# The UI's own origin only; no inline scripts; images may be blob: (mind maps fetched with the API key).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

router = APIRouter()


def _index() -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


for _page in PAGES:
    router.add_api_route(_page, _index, methods=["GET"], include_in_schema=False)


@router.get("/runs/{run_id}", include_in_schema=False)
async def run_page(run_id: str) -> Response:
    return _index()


@router.get("/v1/coe/info")
async def info(request: Request) -> dict[str, Any]:
    """What the UI needs before it can ask anything: whether an API key is required, the modes and the
    router's categories. Needs no key and reveals nothing else."""
    st = app_state(request)
    return {"version": __version__, "auth_required": not st.open_mode,
            "modes": [{"model": name, "mode": mode} for name, mode in MODE_MODELS.items()],
            "categories": list(CATEGORIES)}


@router.get("/v1/coe/runs", responses=ERRORS)
async def list_runs(request: Request, limit: int = Query(default=50, ge=1, le=200),
                    offset: int = Query(default=0, ge=0, le=1_000_000),
                    _key: KeyInfo | None = Depends(auth)) -> dict[str, Any]:
    """Recent runs, newest first (without stages; GET /v1/coe/runs/{id} has the full trace). Arena battles are
    left out: their traces name the models of anonymous battles, and the arena shows them after the vote."""
    st = app_state(request)
    rows = await asyncio.to_thread(st.store.list_runs, limit, offset, ("arena",))
    return {"data": [{"id": r.id, "mode": r.mode, "question": r.question[:300], "status": r.status,
                      "created_at": r.created_at.isoformat(), "latency_ms": round(r.latency_ms, 1),
                      "cost_usd": r.cost.total_usd, "team": r.team,
                      "tokens": r.usage.input_tokens + r.usage.output_tokens} for r in rows],
            "limit": limit, "offset": offset}


def install_ui(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
