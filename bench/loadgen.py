"""Shared pieces of the bench scripts: processes pinned to cores, their CPU time and RSS, and a streaming
load generator that records time to first token, every token's arrival and the total time.

Not a benchmark itself; `bench/server_overhead.py` and friends import it.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CONTENT = re.compile(rb'"content":\s?"[^"]')  # a chunk carrying answer text (not the empty role chunk)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: Sequence[str], core: int | None) -> list[str]:
    """``cmd`` under ``taskset -c core`` when taskset exists and the core is there."""
    if core is None or shutil.which("taskset") is None or core >= (os.cpu_count() or 1):
        return list(cmd)
    return ["taskset", "-c", str(core), *cmd]


def coe_serve_cmd(tmp: Path, name: str, up_url: str, log_level: str,
                  extra_toml: str = "") -> tuple[list[str], dict[str, str], int]:
    """(command, environment, port) for `coe serve --open` with one catalog model ``up/m`` on ``up_url`` and its
    own SQLite database. The schema is created first: a server restarted on its database (the usual case) does
    not load Alembic."""
    cfg = tmp / f"{name}.toml"
    cfg.write_text(f'[vendors.up]\nname = "Up"\nbase_url = "{up_url}"\nkey_env = "UP_KEY"\n'
                   '[[models]]\nid = "up/m"\ncontext_window = 4096\n' + extra_toml)
    db = f"sqlite:///{tmp / f'{name}.db'}"
    env = {**os.environ, "UP_KEY": "bench", "COE_HOME": str(tmp / "home"), "COE_DATABASE_URL": db}
    subprocess.run([sys.executable, "-c", "import sys; from coe.store.repo import open_store; "
                    "open_store(sys.argv[1]).close()", db], env=env, check=True)
    port = free_port()
    return ([sys.executable, "-m", "coe", "--config", str(cfg), "serve", "--open", "--port", str(port),
             "--log-level", log_level], env, port)


def pin_self(core: int | None) -> None:
    if core is not None and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(p.name))
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a proxy may fork workers)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree, in seconds."""
    total = 0
    for p in tree(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / CLK_TCK


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e6


class RssSampler:
    """Peak RSS of a process tree while a block runs (sampled every 50 ms)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        assert self.pid is not None
        while True:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> RssSampler:
        if self.pid is not None:
            self.peak = rss_mb(self.pid)
            self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            assert self.pid is not None
            self.peak = max(self.peak, rss_mb(self.pid))


async def wait_ready(url: str, timeout: float = 90, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.time() + timeout
    async with aiohttp.ClientSession() as s:
        while time.time() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Result:
    ok: bool
    ttft: float = 0.0
    total: float = 0.0
    tokens: list[float] = field(default_factory=list)  # arrival of each content chunk, from request start
    status: int = 0
    error: str = ""

    @property
    def max_gap(self) -> float:
        t = self.tokens
        return max((b - a for a, b in itertools.pairwise(t)), default=0.0)


async def stream_once(session: aiohttp.ClientSession, url: str, body: dict[str, object],
                      headers: dict[str, str] | None = None) -> Result:
    t0 = time.perf_counter()
    tokens: list[float] = []
    try:
        async with session.post(url, json=body, headers=headers) as r:
            if r.status != 200:
                await r.read()
                return Result(False, status=r.status, error=f"HTTP {r.status}")
            async for line in r.content:
                if CONTENT.search(line):
                    tokens.append(time.perf_counter() - t0)
                elif line.startswith(b"data: [DONE]"):
                    if not tokens:
                        return Result(False, status=200, error="no tokens")
                    return Result(True, tokens[0], time.perf_counter() - t0, tokens, 200)
    except (TimeoutError, aiohttp.ClientError) as e:
        return Result(False, error=e.__class__.__name__)
    return Result(False, status=200, error="stream ended without [DONE]")


def pct(values: Sequence[float], q: float, scale: float = 1000.0) -> float:
    return round(float(np.percentile(np.asarray(values), q)) * scale, 1) if len(values) else float("nan")


async def closed_loop(url: str, body: dict[str, object], clients: int, per_client: int, *,
                      pid: int | None = None, headers: dict[str, str] | None = None,
                      timeout_s: float = 300) -> dict[str, object]:
    """``clients`` concurrent streams, each sending ``per_client`` requests back to back. ``pid``: the
    gateway process whose CPU time per completed request and peak RSS are reported."""
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
        for _ in range(3):  # warm-up: connections, imports, caches
            await stream_once(s, url, body, headers)

        async def client() -> list[Result]:
            return [await stream_once(s, url, body, headers) for _ in range(per_client)]

        cpu0 = cpu_seconds(pid) if pid else 0.0
        gc.collect()
        gc.disable()  # a collection in the load generator stalls every stream's reader at once: it would read
        try:  # as token gaps of the gateway under test (hundreds of ms with thousands of results)
            async with RssSampler(pid) as rss:
                t0 = time.perf_counter()
                results = [r for rs in await asyncio.gather(*[client() for _ in range(clients)]) for r in rs]
                wall = time.perf_counter() - t0
        finally:
            gc.enable()
        cpu = (cpu_seconds(pid) - cpu0) if pid else None
    ok = [r for r in results if r.ok]
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            errors[r.error] = errors.get(r.error, 0) + 1
    out: dict[str, object] = {
        "requests": len(results), "errors": len(results) - len(ok), "error_kinds": errors,
        "wall_s": round(wall, 2), "throughput_rps": round(len(ok) / wall, 1) if wall else 0.0,
        "ttft_p50_ms": pct([r.ttft for r in ok], 50), "ttft_p99_ms": pct([r.ttft for r in ok], 99),
        "total_p50_ms": pct([r.total for r in ok], 50), "total_p99_ms": pct([r.total for r in ok], 99),
        "max_token_gap_p50_ms": pct([r.max_gap for r in ok], 50),
        "max_token_gap_p99_ms": pct([r.max_gap for r in ok], 99),
        "max_token_gap_max_ms": pct([r.max_gap for r in ok], 100),
        "token_arrival_ms": _median_arrivals(ok),
    }
    if cpu is not None:
        out["cpu_ms_per_request"] = round(cpu * 1000 / max(1, len(ok)), 2)
        out["cpu_s"] = round(cpu, 2)
        out["cpu_utilisation"] = round(cpu / wall, 2) if wall else 0.0
        out["peak_rss_mb"] = round(rss.peak, 1)
    return out


def _median_arrivals(ok: Sequence[Result]) -> list[float]:
    """Median arrival time of token i over all requests (ms): compared between targets for per-token delay."""
    if not ok:
        return []
    n = min(len(r.tokens) for r in ok)
    return [round(float(np.median([r.tokens[i] for r in ok])) * 1000, 2) for i in range(n)]


def token_delay(via: dict[str, object], direct: dict[str, object]) -> dict[str, float]:
    """Per-token pass-through delay: how much later token i arrives through the gateway than directly
    (median over tokens; the first token also carries the request's setup)."""
    a = via.get("token_arrival_ms") or []
    b = direct.get("token_arrival_ms") or []
    assert isinstance(a, list) and isinstance(b, list)
    n = min(len(a), len(b))
    if n == 0:
        return {"first_ms": float("nan"), "median_ms": float("nan"), "after_first_ms": float("nan")}
    d = [a[i] - b[i] for i in range(n)]
    later = [(a[i] - a[0]) - (b[i] - b[0]) for i in range(1, n)]
    return {"first_ms": round(d[0], 2), "median_ms": round(float(np.median(d)), 2),
            "after_first_ms": round(float(np.median(later)), 2) if later else 0.0}
