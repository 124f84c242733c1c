"""OpenAI-style error bodies and the status each error gets. User input never becomes a 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from coe.errors import (
    AuthError,
    BadResponseError,
    CoeError,
    ConfigError,
    InputError,
    MissingKeyError,
    ProviderTimeout,
    RateLimitedError,
    StoreError,
    WorkflowError,
)

log = logging.getLogger("coe.server")


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", *,
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def from_coe_error(e: CoeError) -> ApiError:
    msg = str(e)
    if isinstance(e, MissingKeyError):
        return ApiError(400, f"{e.model} is not available on this server (no API key configured)",
                        code="model_not_available", param="model")
    if isinstance(e, (InputError, WorkflowError)):
        return ApiError(400, msg, code="invalid_request")
    if isinstance(e, RateLimitedError):
        return ApiError(429, msg, "rate_limit_error", code="upstream_rate_limited")
    if isinstance(e, ProviderTimeout):
        return ApiError(504, msg, "upstream_error", code="upstream_timeout")
    if isinstance(e, (AuthError, BadResponseError)):
        return ApiError(502, msg, "upstream_error", code="upstream_error")
    if isinstance(e, (StoreError, ConfigError)):
        return ApiError(503, msg, "server_error", code="unavailable")
    return ApiError(502, msg, "upstream_error", code="upstream_error")


def validation_error(errs: Sequence[Any]) -> ApiError:
    """A 400 naming the first invalid parameter (FastAPI's locations start with "body": dropped)."""
    first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    msg = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        msg, loc = "request body is not valid JSON", []
    param = ".".join(loc) or None
    text = f"{param}: {msg}" if param else msg
    return ApiError(400, text, param=param, code="invalid_request")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> JSONResponse:
        return e.response()

    @app.exception_handler(CoeError)
    async def _coe(_: Request, e: CoeError) -> JSONResponse:
        return from_coe_error(e).response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        return validation_error(list(e.errors())).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if e.status_code == 404 else "invalid_request_error"
        return ApiError(e.status_code, str(e.detail), kind, headers=dict(e.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", None)})
        return ApiError(500, "internal error; see the server log", "server_error").response()
