"""create_app: the FastAPI application behind `coe serve`."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coe import __version__
from coe.config import Settings, load_settings
from coe.errors import CoeError, ConfigError
from coe.providers.pool import ModelPool
from coe.retrieval.index import KnowledgeBase
from coe.router.service import RouterService
from coe.server.arena_routes import router as arena_router
from coe.server.chat import ChatEndpoint
from coe.server.errors import install_handlers
from coe.server.limits import Admission, MemoryCache, MemoryRateLimiter, RedisCache, RedisRateLimiter, redis_client
from coe.server.metrics import Metrics
from coe.server.openai_routes import router as openai_router
from coe.server.state import AppState, app_state
from coe.server.ui import install_ui
from coe.store.keys import KeyRepo
from coe.store.repo import Store, open_store

log = logging.getLogger("coe.server")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in and out), one JSON access-log line, request metrics.

    With ``wrap_send=False`` (the hot path, :class:`~coe.server.chat.ChatEndpoint`) the app itself adds the
    ``x-request-id`` header and leaves its status in ``scope["state"]["status"]``: no wrapper around ``send``,
    which a stream calls for every token."""

    def __init__(self, app: ASGIApp, metrics: Metrics, wrap_send: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.wrap_send = wrap_send
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}  # labelled metrics, looked up once

    def _observe(self, route: str, status: int, dt: float) -> None:
        key = (route, status)
        pair = self._children.get(key)
        if pair is None:
            pair = (self.metrics.requests.labels(route, "", str(status)), self.metrics.latency.labels(route, ""))
            if len(self._children) < 10_000:
                self._children[key] = pair
        pair[0].inc()
        pair[1].observe(dt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
                if not _SAFE_ID.fullmatch(rid):  # it is echoed in a header and logged: nothing else gets through
                    rid = ""
                break
        rid = rid or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        t0 = time.perf_counter()
        status = 500
        if not self.wrap_send:
            state["request_id_header"] = rid.encode("latin-1")
            try:
                await self.app(scope, receive, send)
            finally:
                self._done(scope, rid, state.get("status", 500), t0)
            return

        async def send_with_id(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg["headers"] = [*msg.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(msg)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._done(scope, rid, status, t0)

    def _done(self, scope: Scope, rid: str, status: int, t0: float) -> None:
        path = scope.get("path", "")
        matched = scope.get("route")  # FastAPI's matched route: its template keeps label values bounded
        route = str(getattr(matched, "path", "")) or (path if path == "/v1/chat/completions" else "unmatched")
        dt = time.perf_counter() - t0
        self._observe(route, status, dt)
        log.info("request", extra={"request_id": rid, "method": scope.get("method"), "path": path,
                                   "status": status, "ms": round(dt * 1000, 1)})


class CoeApp(FastAPI):
    """FastAPI, except that the hot path (POST /v1/chat/completions) is answered by a plain ASGI endpoint
    before FastAPI's routing, middleware and dependency injection (a streamed pass-through request must cost
    well under 2 ms of CPU; that machinery alone cost about as much). Every other path is FastAPI's."""

    fast_routes: dict[tuple[str, str], ASGIApp]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fast = self.fast_routes.get((scope["method"], scope["path"]))
            if fast is not None:
                await fast(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, pool: ModelPool | None = None, store: Store | None = None,
               open_mode: bool = False, router: RouterService | None = None) -> FastAPI:
    """The app. ``open_mode`` (no API keys) is for loopback only; `coe serve` enforces that."""
    settings = settings or load_settings()
    store = store or open_store(settings.database_url)
    pool = pool or ModelPool(settings)
    metrics = Metrics()
    srv = settings.file.server
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    state = AppState(
        settings=settings, pool=pool, store=store, router=router or RouterService(settings, pool),
        keys=KeyRepo(store), limiter=RedisRateLimiter(redis) if redis else MemoryRateLimiter(),
        cache=(RedisCache(redis) if redis else MemoryCache()) if settings.file.server.cache_ttl_s else None,
        metrics=metrics, open_mode=open_mode, knowledge=KnowledgeBase(store), redis=redis,
        admission=Admission(srv.max_streams, srv.queue_timeout_s, srv.max_loop_lag_ms / 1000))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("coe serve ready", extra={"version": __version__, "open_mode": open_mode,
                                           "models_available": len(pool.available()),
                                           "store": repr(store), "redis": bool(redis)})
        gc.collect()
        gc.freeze()  # what startup allocated is never garbage: keep it out of every later collection
        gc.set_threshold(50_000, 20, 100)  # streams allocate many short-lived objects: collect less often
        yield
        await pool.aclose()
        if redis is not None:
            await redis.aclose()

    app = CoeApp(title="CoE", version=__version__, lifespan=lifespan,
                 description="OpenAI-compatible API over CoE's router and collaboration modes.")
    app.state.coe = state
    install_handlers(app)
    chat: ASGIApp = ChatEndpoint(state)
    if srv.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=srv.cors_origins, allow_methods=["*"], allow_headers=["*"])
        chat = CORSMiddleware(chat, allow_origins=srv.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(RequestContext, metrics=metrics)
    app.fast_routes = {("POST", "/v1/chat/completions"): RequestContext(chat, metrics, wrap_send=False)}
    app.include_router(openai_router)
    app.include_router(arena_router)
    install_ui(app)  # the web UI at / (static pages) and the JSON it reads

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "store, models or redis not ready"}})
    async def readyz(request: Request) -> JSONResponse:
        st = app_state(request)
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping, st.store), timeout=3)
            checks["store"] = "ok"
        except Exception as e:  # any failure means not ready
            checks["store"] = f"unavailable: {e.__class__.__name__}"
        n = len(st.pool.available())
        checks["models"] = n
        if st.redis is not None:
            try:
                await asyncio.wait_for(st.redis.ping(), timeout=2)
                checks["redis"] = "ok"
            except Exception as e:  # any failure means not ready
                checks["redis"] = f"unavailable: {e.__class__.__name__}"
        ok = checks["store"] == "ok" and n > 0 and checks.get("redis", "ok") == "ok"
        return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _ping(store: Store) -> None:
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (used by `coe serve --workers N`): settings from COE_CONFIG."""
    from coe.server.logs import setup_json_logging

    setup_json_logging(logging.getLevelName(os.environ.get("COE_SERVE_LOG_LEVEL", "INFO")))
    open_mode = os.environ.get("COE_SERVE_OPEN") == "1"
    try:
        if open_mode and not is_loopback(os.environ.get("COE_SERVE_HOST", "")):
            raise ConfigError("open mode (no API keys) is only allowed on a loopback address")
        return create_app(load_settings(os.environ.get("COE_CONFIG")), open_mode=open_mode)
    except CoeError as e:  # one line, not a traceback per worker
        log.error(f"cannot start: {e}")
        raise SystemExit(1) from None
