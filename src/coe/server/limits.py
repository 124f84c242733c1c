"""Per-key rate limits and the optional exact-match response cache: in-process, or in Redis so that several
replicas share them."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol


class RateLimiter(Protocol):
    async def hit(self, key_id: str, limit_per_min: int) -> float | None:
        """None when allowed; else seconds until the next window."""
        ...


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_s: int) -> None: ...


class MemoryRateLimiter:
    """Fixed one-minute windows, per process."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = asyncio.Lock()

    async def hit(self, key_id: str, limit_per_min: int) -> float | None:
        now = time.time()
        window = int(now // 60)
        async with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            n = self._counts.get((key_id, window), 0) + 1
            self._counts[(key_id, window)] = n
        return None if n <= limit_per_min else 60 - (now % 60)


class MemoryCache:
    def __init__(self, max_items: int = 1000) -> None:
        self._items: dict[str, tuple[float, str]] = {}
        self._max = max_items

    async def get(self, key: str) -> str | None:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.time():
            return None
        return hit[1]

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        if len(self._items) >= self._max:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (time.time() + ttl_s, value)


class RedisRateLimiter:
    """INCR on a per-key, per-minute counter that expires: every replica sees the same count."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def hit(self, key_id: str, limit_per_min: int) -> float | None:
        now = time.time()
        name = f"coe:rate:{key_id}:{int(now // 60)}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, 61)
        n, _ = await pipe.execute()
        return None if int(n) <= limit_per_min else 60 - (now % 60)


class RedisCache:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def get(self, key: str) -> str | None:
        v = await self.client.get(f"coe:cache:{key}")
        return v.decode() if isinstance(v, bytes) else v

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        await self.client.set(f"coe:cache:{key}", value, ex=ttl_s)


def redis_client(url: str) -> Any:
    import redis.asyncio as aioredis

    return aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
