"""What a server process holds: settings, the model pool, the store, the router, limits, metrics."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from coe.config import Settings
from coe.providers.pool import ModelPool
from coe.retrieval.index import KnowledgeBase
from coe.router.service import RouterService
from coe.server.errors import ApiError
from coe.server.limits import Admission, Cache, RateLimiter
from coe.server.metrics import Metrics
from coe.store.keys import KeyInfo, KeyRepo
from coe.store.repo import Store

KEY_CACHE_S = 5.0


@dataclass
class AppState:
    settings: Settings
    pool: ModelPool
    store: Store
    router: RouterService
    keys: KeyRepo
    limiter: RateLimiter
    cache: Cache | None
    metrics: Metrics
    open_mode: bool
    knowledge: KnowledgeBase
    redis: Any = None
    admission: Admission = field(default_factory=lambda: Admission(0, 60.0))
    boards: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # arena leaderboards, by vote set
    _verified: dict[str, tuple[float, KeyInfo]] = field(default_factory=dict)

    async def authenticate(self, request: Request) -> KeyInfo | None:
        """The caller's key (None in open mode). Raises 401/429 as OpenAI does."""
        return await self.authenticate_header(request.headers.get("authorization", ""))

    async def authenticate_header(self, header: str) -> KeyInfo | None:
        """The key in an ``Authorization`` header value (None in open mode)."""
        if self.open_mode:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>' (create one with "
                                "`coe keys create --name NAME`)", "authentication_error", code="missing_api_key")
        key = key.strip()
        hit = self._verified.get(key)
        if hit and hit[0] > time.monotonic():
            info = hit[1]
        else:
            found = await asyncio.to_thread(self.keys.verify, key)
            if found is None:
                raise ApiError(401, "invalid API key", "authentication_error", code="invalid_api_key")
            info = found
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = (time.monotonic() + KEY_CACHE_S, info)
        if info.rate_per_min:
            wait = await self.limiter.hit(info.id, info.rate_per_min)
            if wait is not None:
                raise ApiError(429, f"rate limit of {info.rate_per_min} requests/min reached for key "
                                    f"'{info.name}'", "rate_limit_error", code="rate_limit_exceeded",
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if info.budget_usd is not None and info.spent_usd >= info.budget_usd:
            raise ApiError(429, f"key '{info.name}' has used its budget of ${info.budget_usd:g}",
                           "insufficient_quota", code="insufficient_quota")
        return info

    async def charge(self, key: KeyInfo | None, usd: float) -> None:
        if key is not None and usd > 0:
            await asyncio.to_thread(self.keys.add_spend, key.id, usd)
            self._verified = {k: v for k, v in self._verified.items() if v[1].id != key.id}


def app_state(request: Request) -> AppState:
    return request.app.state.coe  # type: ignore[no-any-return]
