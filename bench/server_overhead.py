"""Latency `coe serve` adds over calling an upstream directly, with N concurrent streams.

    .venv/bin/python bench/server_overhead.py [--concurrency 1,100,500] [--requests-per-client 2]

Starts a fake OpenAI-compatible upstream (its own process: 50 ms to first byte, 20 chunks 5 ms apart) and
`coe serve --open` (its own process) with a catalog model pointing at it, then, for each concurrency level,
streams the same request directly and through CoE. Prints JSON (and a markdown table on stderr): p50/p99 of
time to first token and of total time, errors, and the difference (CoE − direct). The client, server and
upstream share this machine's cores, so the figures include contention — compare columns of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

BODY = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hello"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    async with aiohttp.ClientSession() as s:
        while time.time() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def one(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> tuple[float, float] | None:
    t0 = time.perf_counter()
    ttft = None
    try:
        async with session.post(url, json=body) as r:
            if r.status != 200:
                return None
            async for line in r.content:
                if (ttft is None and b'"content": "' in line) or (b'"content":"' in line and ttft is None):
                    ttft = time.perf_counter() - t0
                if line.startswith(b"data: [DONE]"):
                    return (ttft or 0.0, time.perf_counter() - t0)
    except (TimeoutError, aiohttp.ClientError):
        return None
    return None


async def level(url: str, body: dict[str, object], n: int, per_client: int) -> dict[str, float]:
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=300)) as s:
        await one(s, url, body)  # warm-up

        async def client() -> list[tuple[float, float] | None]:
            return [await one(s, url, body) for _ in range(per_client)]

        t0 = time.perf_counter()
        results = [r for rs in await asyncio.gather(*[client() for _ in range(n)]) for r in rs]
        wall = time.perf_counter() - t0
    ok = [r for r in results if r is not None]
    ttft = np.array([r[0] for r in ok]) * 1000
    total = np.array([r[1] for r in ok]) * 1000
    return {"requests": len(results), "errors": len(results) - len(ok), "wall_s": round(wall, 2),
            "ttft_p50_ms": round(float(np.percentile(ttft, 50)), 1),
            "ttft_p99_ms": round(float(np.percentile(ttft, 99)), 1),
            "total_p50_ms": round(float(np.percentile(total, 50)), 1),
            "total_p99_ms": round(float(np.percentile(total, 99)), 1)}


async def run(levels: list[int], per_client: int) -> dict[str, object]:
    up_port, coe_port = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="coe-bench-"))
    up_url = f"http://127.0.0.1:{up_port}/v1"
    (tmp / "coe.toml").write_text(f'[vendors.up]\nname = "Up"\nbase_url = "{up_url}"\nkey_env = "UP_KEY"\n'
                                  '[[models]]\nid = "up/m"\ncontext_window = 4096\n')
    env = {**os.environ, "UP_KEY": "bench", "COE_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"}
    upstream = subprocess.Popen([sys.executable, "-m", "coe.testing.upstream", "--port", str(up_port)],
                                stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, "-m", "coe", "--config", str(tmp / "coe.toml"), "serve", "--open",
                               "--port", str(coe_port), "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_ready(f"http://127.0.0.1:{coe_port}/healthz")
        await asyncio.sleep(0.5)
        rows = []
        for n in levels:
            direct = await level(up_url + "/chat/completions", BODY, n, per_client)
            via = await level(f"http://127.0.0.1:{coe_port}/v1/chat/completions", BODY, n, per_client)
            rows.append({"concurrency": n, "direct": direct, "coe": via,
                         "added_ttft_p50_ms": round(via["ttft_p50_ms"] - direct["ttft_p50_ms"], 1),
                         "added_ttft_p99_ms": round(via["ttft_p99_ms"] - direct["ttft_p99_ms"], 1),
                         "added_total_p50_ms": round(via["total_p50_ms"] - direct["total_p50_ms"], 1),
                         "added_total_p99_ms": round(via["total_p99_ms"] - direct["total_p99_ms"], 1)})
        return {"bench": "server_overhead", "upstream": "50 ms to first byte, 20 chunks 5 ms apart",
                "requests_per_client": per_client, "levels": rows}
    finally:
        for p in (server, upstream):
            p.terminate()
            p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", default="1,100,500")
    ap.add_argument("--requests-per-client", type=int, default=2)
    a = ap.parse_args()
    res = asyncio.run(run([int(x) for x in a.concurrency.split(",")], a.requests_per_client))
    print(json.dumps(res))
    print("| streams | direct p50/p99 total ms | CoE p50/p99 total ms | added p50/p99 ms | CoE errors |",
          file=sys.stderr)
    print("|---|---|---|---|---|", file=sys.stderr)
    for r in res["levels"]:  # type: ignore[attr-defined]
        d, c = r["direct"], r["coe"]
        print(f"| {r['concurrency']} | {d['total_p50_ms']}/{d['total_p99_ms']} | {c['total_p50_ms']}/"
              f"{c['total_p99_ms']} | {r['added_total_p50_ms']}/{r['added_total_p99_ms']} | {c['errors']} |",
              file=sys.stderr)


if __name__ == "__main__":
    main()
