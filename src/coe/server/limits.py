"""Per-key rate limits and the optional exact-match response cache: in-process, or in Redis so that several
replicas share them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
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


class Admission:
    """Admission control for chat requests, so that overload slows new arrivals, not the streams in flight.

    A request is admitted at once while fewer than ``max_active`` run and the event loop keeps up: its lag (how
    late a 25 ms timer fires) is under ``max_lag_s``, or the loop's thread is not busy (lag that comes from other
    processes taking the CPU is not ours to shed), or fewer than ``MIN_ACTIVE`` requests run. Otherwise
    it waits in arrival order and is admitted when a slot frees and the loop has caught up, a few per tick;
    after ``queue_timeout_s`` it gets 503 with ``Retry-After``. ``max_active = 0`` means no fixed cap."""

    MIN_ACTIVE = 8
    TICK_S = 0.025
    BURST = 8  # admissions per tick while the loop is recovering

    def __init__(self, max_active: int, queue_timeout_s: float, max_lag_s: float = 0.05) -> None:
        self.max_active = max_active
        self.queue_timeout_s = queue_timeout_s
        self.max_lag_s = max_lag_s
        self.active = 0
        self.lag_s = 0.0
        self.busy = 0.0  # share of the last ticks the loop's thread spent on the CPU
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._monitor: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _room(self) -> bool:
        if self.max_active and self.active >= self.max_active:
            return False
        return self.lag_s <= self.max_lag_s or self.busy < 0.8 or self.active < self.MIN_ACTIVE

    async def acquire(self) -> Callable[[], None]:
        """Wait for admission; returns the function that gives the slot back (idempotent)."""
        self._ensure_monitor()
        if not self._waiters and self._room():
            self.active += 1
            return self._releaser()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.queue_timeout_s)
        except TimeoutError:
            if not fut.done():
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
                raise Overloaded(self.queue_timeout_s) from None
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # admitted just as the caller went away: give the slot back
            else:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise
        return self._releaser()  # admitted by _pump, which already counted it

    def _releaser(self) -> Callable[[], None]:
        used = False

        def release() -> None:
            nonlocal used
            if not used:
                used = True
                self._release()

        return release

    def _release(self) -> None:
        self.active -= 1
        self._pump(limit=1)

    def _pump(self, limit: int) -> None:
        while limit > 0 and self._waiters and self._room():
            nxt = self._waiters.popleft()
            if nxt.done():
                continue
            self.active += 1
            nxt.set_result(None)
            limit -= 1

    def _ensure_monitor(self) -> None:
        loop = asyncio.get_running_loop()
        if self._monitor is None or self._monitor.done() or self._monitor.get_loop() is not loop:
            self._monitor = loop.create_task(self._watch())

    async def _watch(self) -> None:
        """Measures the loop's lag (every tick) and how busy its thread is (every few ticks: reading a thread's
        CPU clock is a system call); admits waiters as the loop recovers. Stops when idle (restarted on demand)."""
        loop = asyncio.get_running_loop()
        idle = tick = 0
        t_busy, cpu = loop.time(), time.thread_time()
        share = cgroup_cpu_share()
        while idle < 50:
            t = loop.time()
            await asyncio.sleep(self.TICK_S)
            now = loop.time()
            lag = max(0.0, now - t - self.TICK_S)
            self.lag_s = lag if lag > self.lag_s else 0.5 * self.lag_s + 0.5 * lag  # rise fast, fall smoothly
            tick += 1
            if tick % 4 == 0 or lag > self.max_lag_s:
                cpu_now = time.thread_time()
                if now > t_busy:
                    used = (cpu_now - cpu) / (now - t_busy) / share  # of what the CPU quota allows
                    self.busy = 0.5 * self.busy + 0.5 * min(1.0, used)
                t_busy, cpu = now, cpu_now
            if tick % 80 == 0:  # every 2 s: a container's limit can change
                share = cgroup_cpu_share()
            self._pump(limit=self.BURST)
            idle = idle + 1 if self.active == 0 and not self._waiters else 0
        self.lag_s = self.busy = 0.0


def cgroup_cpu_share(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")) -> float:
    """The share of one core this process may use under its cgroup's CPU quota (cgroup v1 ``cpu.cfs_quota_us``
    or v2 ``cpu.max``, the tightest along the path); 1.0 without a quota or with a core or more. In a container
    with a CPU limit the loop's thread is throttled, not busy, when it hits the limit: admission must count
    that as overload of its own."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return 1.0
    share = 1.0
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            mounts, files = [root / "unified", root], ("cpu.max",)
        elif "cpu" in controllers.split(","):
            mounts, files = [root / controllers, root / "cpu", root / "cpu,cpuacct"], ("cpu.cfs_quota_us",)
        else:
            continue
        for mount in mounts:
            folder = mount / path.lstrip("/")
            while True:
                share = min(share, _quota(folder, files[0]))
                if folder == mount:
                    break
                folder = folder.parent
            if (mount / files[0]).exists() or (mount / "cgroup.controllers").exists():
                break
    return share


def _quota(folder: Path, name: str) -> float:
    try:
        if name == "cpu.max":
            quota, period = (folder / name).read_text().split()[:2]
            return 1.0 if quota == "max" else min(1.0, int(quota) / int(period))
        quota_us = int((folder / name).read_text())
        period_us = int((folder / "cpu.cfs_period_us").read_text())
        return 1.0 if quota_us <= 0 else min(1.0, quota_us / period_us)
    except (OSError, ValueError):
        return 1.0


class Overloaded(Exception):
    def __init__(self, waited_s: float) -> None:
        self.waited_s = waited_s
        super().__init__(f"the server is at capacity; no slot freed within {waited_s:g}s")


def _noop() -> None:
    return None


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
