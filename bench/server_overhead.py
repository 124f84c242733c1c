"""What `coe serve` adds over calling the upstream directly — beside LiteLLM's proxy and a minimal aiohttp
pass-through, in the same run, at N concurrent streams.

    .venv/bin/python bench/server_overhead.py [--concurrency 1,50,100,500,1000] [--targets direct,reference,coe,litellm]
        [--collab] [--min-requests 100] [--requests-per-client 2] [--repeat 1]

Processes: a fake OpenAI-compatible upstream (`python -m coe.testing.upstream`: 50 ms to first byte, 20 chunks
5 ms apart), `coe serve --open` with a catalog model `up/m` pointing at it, the reference pass-through
(bench/reference_passthrough.py) and, when /tmp/litellm-venv exists (bench/setup_litellm.sh), LiteLLM's proxy
pointed at the same upstream. Each gateway runs pinned to core 0 (`taskset -c 0`); the upstream and this load
generator share core 1. For each concurrency level and target the load generator streams the same request in
a closed loop and reports p50/p99 of time to first token and total time, throughput, errors, the gateway's
CPU time per completed request (/proc/<pid>/stat of its process tree, divided by requests completed), its
peak RSS, the largest gap between two tokens of a stream (starvation) and the per-token delay versus direct.
`--collab` adds `coe-collab` (3 stages, each a call to the same upstream) to measure the engine's cost per
stage. Prints one JSON object on stdout and markdown tables on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import closed_loop, coe_serve_cmd, free_port, pin_self, pinned, token_delay, wait_ready

ROOT = Path(__file__).resolve().parents[1]
LITELLM_VENV = Path(os.environ.get("LITELLM_VENV", "/tmp/litellm-venv"))
LITELLM_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]


def body(model: str) -> dict[str, object]:
    return {"model": model, "stream": True, "messages": MESSAGES}


class Procs:
    """The upstream and the gateways, started once for the whole run."""

    def __init__(self, gateway_core: int | None, client_core: int | None, coe_log_level: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="coe-bench-"))
        self.gateway_core, self.client_core = gateway_core, client_core
        self.coe_log_level = coe_log_level
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        self.up_url = ""

    def _spawn(self, name: str, cmd: list[str], core: int | None, env: dict[str, str] | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(pinned(cmd, core), env=env or dict(os.environ), stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.tmp)

    async def start(self, targets: list[str], upstream_args: list[str]) -> list[str]:
        port = free_port()
        self.up_url = f"http://127.0.0.1:{port}/v1"
        self._spawn("upstream", [sys.executable, "-m", "coe.testing.upstream", "--port", str(port),
                                 *upstream_args], self.client_core)
        started = []
        for t in targets:
            if t == "direct":
                self.urls[t] = self.up_url + "/chat/completions"
                started.append(t)
            elif t == "coe":
                self._start_coe()
                started.append(t)
            elif t == "reference":
                p = free_port()
                self._spawn(t, [sys.executable, str(ROOT / "bench" / "reference_passthrough.py"), "--port", str(p),
                                "--upstream", self.up_url], self.gateway_core)
                self.urls[t] = f"http://127.0.0.1:{p}/v1/chat/completions"
                started.append(t)
            elif t == "litellm" and self._start_litellm():
                started.append(t)
        await wait_ready(self.up_url.replace("/v1", "/health-none"), proc=self.procs["upstream"])
        for t in started:
            if t in self.procs:
                health = {"coe": "/healthz", "reference": "/healthz", "litellm": "/health/liveliness"}[t]
                base = self.urls[t].split("/v1/")[0]
                await wait_ready(base + health, timeout=180, proc=self.procs[t])
        print("# " + " ".join(f"{t}={self.urls[t]}" for t in started), file=sys.stderr, flush=True)
        return started

    def _start_coe(self) -> None:
        cmd, env, p = coe_serve_cmd(self.tmp, "bench", self.up_url, self.coe_log_level)
        self._spawn("coe", cmd, self.gateway_core, env)
        self.urls["coe"] = f"http://127.0.0.1:{p}/v1/chat/completions"

    def _start_litellm(self) -> bool:
        exe = LITELLM_VENV / "bin" / "litellm"
        if not exe.exists():
            return False
        cfg = self.tmp / "litellm.yaml"
        cfg.write_text("model_list:\n  - model_name: up/m\n    litellm_params:\n      model: openai/m\n"
                       f"      api_base: {self.up_url}\n      api_key: bench\n"
                       "litellm_settings:\n  drop_params: true\n  telemetry: false\n"
                       f"general_settings:\n  master_key: {LITELLM_KEY}\n")
        p = free_port()
        env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "true"}
        self._spawn("litellm", [str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(p),
                                "--num_workers", "1"], self.gateway_core, env)
        self.urls["litellm"] = f"http://127.0.0.1:{p}/v1/chat/completions"
        return True

    def pid(self, target: str) -> int | None:
        p = self.procs.get(target)
        return p.pid if p is not None else None

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def litellm_version() -> str | None:
    py = LITELLM_VENV / "bin" / "python"
    if not py.exists():
        return None
    out = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


async def run(a: argparse.Namespace) -> dict[str, Any]:
    pin_self(a.client_core)
    targets = [t for t in a.targets.split(",") if t]
    procs = Procs(a.gateway_core, a.client_core, a.coe_log_level)
    try:
        started = await procs.start(targets, ["--latency", str(a.latency), "--token-delay", str(a.token_delay),
                                              "--chunks", str(a.chunks)])
        await asyncio.sleep(1.0)
        levels = []
        for n in [int(x) for x in a.concurrency.split(",") if x]:
            per_client = max(a.requests_per_client, math.ceil(a.min_requests / n))
            row: dict[str, Any] = {"concurrency": n, "requests_per_client": per_client}
            runs: list[tuple[str, str]] = [(t, "up/m") for t in started]
            if a.collab and "coe" in started:
                runs.append(("coe-collab", "coe-collab"))
            for name, model in runs:
                target = "coe" if name == "coe-collab" else name
                b = body(model)
                if name == "coe-collab":
                    b["coe"] = {"team": ["up/m"]}
                reps = []
                for _ in range(a.repeat):
                    headers = {"Authorization": f"Bearer {LITELLM_KEY}"} if target == "litellm" else None
                    reps.append(await closed_loop(procs.urls[target], b, n, per_client, pid=procs.pid(target),
                                                  headers=headers))
                    await asyncio.sleep(0.5)
                res = min(reps, key=lambda r: r.get("cpu_ms_per_request", r["total_p50_ms"]))  # least-disturbed
                res["repeats"] = [{k: r.get(k) for k in ("cpu_ms_per_request", "total_p50_ms", "throughput_rps")}
                                  for r in reps]
                row[name] = res
                print(f"# {n:>5} {name:<10} {_brief(res)}", file=sys.stderr, flush=True)
            d = row.get("direct")
            if d:
                for name in [t for t in row if t not in ("concurrency", "requests_per_client", "direct")]:
                    r = row[name]
                    r["added"] = {k: round(r[k] - d[k], 1) for k in
                                  ("ttft_p50_ms", "ttft_p99_ms", "total_p50_ms", "total_p99_ms")}
                    r["throughput_vs_direct"] = round(r["throughput_rps"] / d["throughput_rps"], 3) \
                        if d["throughput_rps"] else None
                    r["token_delay"] = token_delay(r, d)
            for r in row.values():
                if isinstance(r, dict):
                    r.pop("token_arrival_ms", None)
            levels.append(row)
        if "litellm" in targets and "litellm" not in started:
            print(f"# litellm: not installed ({LITELLM_VENV}; run bench/setup_litellm.sh) — skipped", file=sys.stderr)
        return {"bench": "server_overhead", "targets": started, "litellm": litellm_version() or "not installed",
                "upstream": f"{a.latency * 1000:g} ms to first byte, {a.chunks} chunks {a.token_delay * 1000:g} ms "
                            "apart",
                "cores": {"gateway": a.gateway_core, "upstream_and_client": a.client_core,
                          "machine": os.cpu_count()},
                "coe_log_level": a.coe_log_level, "levels": levels}
    finally:
        procs.stop()


def _brief(r: dict[str, Any]) -> str:
    cpu = f" cpu {r['cpu_ms_per_request']} ms/req rss {r['peak_rss_mb']} MB" if "cpu_ms_per_request" in r else ""
    return (f"ttft {r['ttft_p50_ms']}/{r['ttft_p99_ms']} total {r['total_p50_ms']}/{r['total_p99_ms']} ms "
            f"{r['throughput_rps']} req/s errors {r['errors']}{cpu} gap99 {r['max_token_gap_p99_ms']} ms")


def tables(res: dict[str, Any]) -> str:
    lines = ["| streams | target | TTFT p50/p99 ms | total p50/p99 ms | added total p50/p99 ms | req/s (× direct) "
             "| CPU ms/req | peak RSS MB | max token gap p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in res["levels"]:
        for name, r in row.items():
            if not isinstance(r, dict):
                continue
            added = r.get("added")
            add = f"{added['total_p50_ms']}/{added['total_p99_ms']}" if added else "—"
            ratio = f" ({r['throughput_vs_direct']})" if r.get("throughput_vs_direct") is not None else ""
            lines.append(
                f"| {row['concurrency']} | {name} | {r['ttft_p50_ms']}/{r['ttft_p99_ms']} | {r['total_p50_ms']}/"
                f"{r['total_p99_ms']} | {add} | {r['throughput_rps']}{ratio} | {r.get('cpu_ms_per_request', '—')} | "
                f"{r.get('peak_rss_mb', '—')} | {r['max_token_gap_p99_ms']} | {r['errors']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", default="1,50,100,500,1000")
    ap.add_argument("--targets", default="direct,reference,coe,litellm")
    ap.add_argument("--collab", action="store_true", help="also measure coe-collab (3 stages)")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--min-requests", type=int, default=100, help="at least this many requests per level")
    ap.add_argument("--repeat", type=int, default=1, help="repeat each measurement, keep the least disturbed")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--token-delay", type=float, default=0.005)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--gateway-core", type=int, default=0)
    ap.add_argument("--client-core", type=int, default=1)
    ap.add_argument("--coe-log-level", default="info")
    a = ap.parse_args()
    t0 = time.time()
    res = asyncio.run(run(a))
    res["elapsed_s"] = round(time.time() - t0, 1)
    print(json.dumps(res))
    print(tables(res), file=sys.stderr)


if __name__ == "__main__":
    main()
