"""Overload: do the streams a gateway has accepted keep flowing when far more arrive than it can serve?

    .venv/bin/python bench/overload.py [--clients 300] [--seconds 20] [--cpu-quota 0.25] [--queue-timeout 5]

`coe serve` (pinned to core 0) runs in a cgroup with a CPU quota — a quarter of a core by default — so that the
gateway, not the load generator, is what saturates: on a two-core machine the load generator and the fake
upstream share the other core and could not otherwise offer more than the gateway serves. The same offered load
runs twice: with admission control as configured by default (``[server] max_loop_lag_ms = 50``) and with it
off (``max_streams = 0``, an unreachable lag limit). ``--clients`` clients stream in a closed loop for
``--seconds``; a 503 is counted and retried 100 ms later. For the completed streams it reports the largest
silence between two tokens (starvation shows there), time to first token (queueing shows there), completed
requests per second and 503s. Without root (or without a writable cgroup CPU controller) it says so and runs
without the quota, which on a small machine mostly measures the load generator. Prints one JSON object on
stdout and a markdown table on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import Result, coe_serve_cmd, cpu_seconds, free_port, pct, pin_self, pinned, stream_once, wait_ready

BODY = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
SETTINGS = {"on": "", "off": "[server]\nmax_streams = 0\nmax_loop_lag_ms = 1000000000\n"}


def make_cgroup(share: float) -> Path | None:
    """A cgroup (v2 or v1 cpu controller) whose quota is ``share`` of a core; None when none can be made."""
    name = f"coe-overload-{os.getpid()}"
    period = 100_000
    for base, quota_file, value in (
            (Path("/sys/fs/cgroup"), "cpu.max", f"{int(share * period)} {period}"),
            (Path("/sys/fs/cgroup/unified"), "cpu.max", f"{int(share * period)} {period}"),
            (Path("/sys/fs/cgroup/cpu"), "cpu.cfs_quota_us", str(int(share * period)))):
        if not (base / quota_file).exists() and not (base / "cgroup.controllers").exists():
            continue
        group = base / name
        try:
            group.mkdir(exist_ok=True)
            if quota_file == "cpu.cfs_quota_us":
                (group / "cpu.cfs_period_us").write_text(str(period))
            (group / quota_file).write_text(value)
            return group
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
    return None


async def drive(url: str, clients: int, seconds: float, pid: int) -> dict[str, Any]:
    conn = aiohttp.TCPConnector(limit=0)
    rejected = 0
    results: list[Result] = []
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as s:
        for _ in range(3):
            await stream_once(s, url, BODY)
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal rejected
            while time.perf_counter() < deadline:
                r = await stream_once(s, url, BODY)
                if r.status == 503:
                    rejected += 1
                    await asyncio.sleep(0.1)
                else:
                    results.append(r)

        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)])
        wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    ok = [r for r in results if r.ok]
    gaps = [r.max_gap for r in ok]
    return {"completed": len(ok), "errors": len(results) - len(ok), "rejected_503": rejected,
            "completed_per_s": round(len(ok) / wall, 1), "gateway_cpu_share": round(cpu / wall, 2),
            "ttft_p50_ms": pct([r.ttft for r in ok], 50), "ttft_p99_ms": pct([r.ttft for r in ok], 99),
            "max_token_gap_p50_ms": pct(gaps, 50), "max_token_gap_p99_ms": pct(gaps, 99),
            "max_token_gap_max_ms": pct(gaps, 100), "wall_s": round(wall, 1)}


async def one(mode: str, a: argparse.Namespace, up_url: str, tmp: Path, group: Path | None) -> dict[str, Any]:
    extra = SETTINGS[mode] + ("" if mode == "off" else f"[server]\nqueue_timeout_s = {a.queue_timeout}\n")
    serve, env, port = coe_serve_cmd(tmp, f"coe-{mode}", up_url, "warning", extra)
    cmd = pinned(serve, a.gateway_core)
    if group is not None:  # join the cgroup before exec: the quota holds from the first instruction
        cmd = ["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh", *cmd]
    with open(tmp / f"coe-{mode}.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=120, proc=proc)
        res = await drive(f"http://127.0.0.1:{port}/v1/chat/completions", a.clients, a.seconds, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"# admission {mode:<3} {json.dumps(res)}", file=sys.stderr, flush=True)
    return res


async def run(a: argparse.Namespace) -> dict[str, Any]:
    pin_self(a.client_core)
    gc.disable()  # a collection here would stall every stream's reader at once and read as a gateway stall
    tmp = Path(tempfile.mkdtemp(prefix="coe-overload-"))
    group = make_cgroup(a.cpu_quota) if a.cpu_quota < 1 else None
    if group is None and a.cpu_quota < 1:
        print("# no writable cgroup CPU controller (needs root): running without a CPU quota", file=sys.stderr)
    port = free_port()
    up_url = f"http://127.0.0.1:{port}/v1"
    with open(tmp / "upstream.log", "wb") as log:
        up = subprocess.Popen(pinned([sys.executable, "-m", "coe.testing.upstream", "--port", str(port), "--latency",
                                      "0.05", "--token-delay", "0.005", "--chunks", "20"], a.client_core),
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/health-none", proc=up)
        runs = {mode: await one(mode, a, up_url, tmp, group) for mode in ("on", "off")}
    finally:
        up.terminate()
        up.wait(10)
        if group is not None:
            time.sleep(0.5)
            with contextlib.suppress(OSError):
                group.rmdir()
    return {"bench": "overload", "clients": a.clients, "seconds": a.seconds,
            "gateway_cpu_quota": a.cpu_quota if group is not None else None,
            "upstream": "50 ms to first byte, 20 chunks 5 ms apart", "admission": runs}


def table(out: dict[str, Any]) -> str:
    rows = ["| admission | completed/s | 503s | TTFT p50/p99 ms | max token gap p50/p99/max ms | gateway CPU | "
            "errors |", "|---|---|---|---|---|---|---|"]
    for mode, r in out["admission"].items():
        rows.append(f"| {mode} | {r['completed_per_s']} | {r['rejected_503']} | {r['ttft_p50_ms']}/"
                    f"{r['ttft_p99_ms']} | {r['max_token_gap_p50_ms']}/{r['max_token_gap_p99_ms']}/"
                    f"{r['max_token_gap_max_ms']} | {r['gateway_cpu_share']} | {r['errors']} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=300)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--cpu-quota", type=float, default=0.25, help="share of a core for the gateway (1 = no quota)")
    p.add_argument("--queue-timeout", type=float, default=5.0, help="[server] queue_timeout_s with admission on")
    p.add_argument("--gateway-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    out = asyncio.run(run(p.parse_args()))
    print(json.dumps(out, indent=2))
    print(table(out), file=sys.stderr)


if __name__ == "__main__":
    main()
