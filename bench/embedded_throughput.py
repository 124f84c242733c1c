"""Embedded-model tokens/s through CoE versus raw llama.cpp, on the same GGUF with the same parameters.

    .venv/bin/python bench/embedded_throughput.py [--model embedded/qwen2.5-coder-0.5b-instruct] [--tokens 128]
        [--repeats 3]

Two subprocesses, one after the other (each loads the model once and has the machine's cores to itself):
  raw  llama.cpp's server (xllamacpp), started with the parameters CoE uses (threads = cores, context, parallel),
       called with a bare aiohttp client: decode rate = completion tokens / (last token − first token), and
       llama.cpp's own `timings.predicted_per_second` for reference;
  coe  the same request through CoE's pool and embedded provider (`coe ask`'s path: runtime, HTTP provider, SSE
       decoder, typed events), measured the same way.
Greedy decoding (temperature 0) and the same prompt, so both runs generate the same tokens. Prints JSON and a
markdown table. Target (issue #10): CoE ≥ 95% of raw llama.cpp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "Write a detailed, step-by-step explanation of how a hash map works, with an example in Python."


def _params(path: str) -> object:
    import xllamacpp

    from coe.config import load_settings

    s = load_settings().embedded  # the same [embedded] settings CoE's runtime reads
    threads = s.threads or os.cpu_count() or 1
    p = xllamacpp.CommonParams()
    p.model.path = path
    p.n_ctx = s.context * s.parallel
    p.n_parallel = s.parallel
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.warmup = False
    p.verbosity = -1
    p.endpoint_metrics = False
    return p


async def _raw(model_id: str, tokens: int, repeats: int) -> list[dict[str, float]]:
    import aiohttp
    import xllamacpp

    from coe.config import load_settings
    from coe.embedded.specs import spec_for
    from coe.embedded.store import model_path

    path = model_path(load_settings().models_dir, spec_for(model_id))
    server = xllamacpp.Server(_params(str(path)))
    url = str(server.listening_address).rstrip("/") + "/v1/chat/completions"
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": tokens,
            "temperature": 0.0, "messages": [{"role": "user", "content": PROMPT}]}
    out = []
    # A new connection per request: llama.cpp's HTTP server may close idle keep-alive connections.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        for _ in range(600):  # the server may still be loading the model
            try:
                async with s.get(url.replace("/v1/chat/completions", "/health")) as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            first = last = 0.0
            n, server_tps = 0, 0.0
            async with s.post(url, json=body) as r:
                async for line in r.content:
                    if not line.startswith(b"data: {"):
                        continue
                    obj = json.loads(line[6:])
                    for ch in obj.get("choices") or []:
                        if (ch.get("delta") or {}).get("content"):
                            last = time.perf_counter()
                            first = first or last
                    if obj.get("usage"):
                        n = obj["usage"].get("completion_tokens", n)
                    if obj.get("timings"):
                        server_tps = obj["timings"].get("predicted_per_second", server_tps)
            if i:  # the first run warms up
                out.append({"tokens": n, "decode_tps": (n - 1) / (last - first) if last > first else 0.0,
                            "e2e_tps": n / (last - t0), "ttft_ms": (first - t0) * 1000,
                            "llama_cpp_tps": server_tps})
    return out


async def _coe(model_id: str, tokens: int, repeats: int) -> list[dict[str, float]]:
    from coe.config import load_settings
    from coe.providers.pool import ModelPool
    from coe.types import ChatRequest, TextDelta, UsageReport

    pool = ModelPool(load_settings())
    out = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        first = last = 0.0
        n = 0
        req = ChatRequest.of(model_id, PROMPT, max_tokens=tokens, temperature=0.0)
        async for ev in pool.stream(req):
            if isinstance(ev, TextDelta) and ev.text:
                last = time.perf_counter()
                first = first or last
            elif isinstance(ev, UsageReport):
                n = ev.usage.output_tokens
        if i:
            out.append({"tokens": n, "decode_tps": (n - 1) / (last - first) if last > first else 0.0,
                        "e2e_tps": n / (last - t0), "ttft_ms": (first - t0) * 1000})
    await pool.aclose()
    return out


def _child(mode: str, model_id: str, tokens: int, repeats: int) -> None:
    fn = _raw if mode == "raw" else _coe
    print(json.dumps(asyncio.run(fn(model_id, tokens, repeats))))


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded/qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads for both runs (0 = cores); on a "
                                                            "machine shared with other work, 1 avoids spinning "
                                                            "threads stalling each other")
    ap.add_argument("--child", choices=["raw", "coe"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child, a.model, a.tokens, a.repeats)
        return
    from coe.config import load_settings
    from coe.embedded.specs import spec_for
    from coe.embedded.store import is_verified

    if not is_verified(load_settings().models_dir, spec_for(a.model)):
        print(json.dumps({"bench": "embedded_throughput", "model": a.model, "skipped": "model not installed "
                                                                                      "(coe models pull)"}))
        return
    res: dict[str, object] = {"bench": "embedded_throughput", "model": a.model, "max_tokens": a.tokens,
                              "cores": os.cpu_count()}
    env = dict(os.environ)
    if a.threads:
        import tempfile

        cfg = Path(tempfile.mkdtemp(prefix="coe-emb-")) / "coe.toml"
        cfg.write_text(f"[embedded]\nthreads = {a.threads}\n")
        env["COE_CONFIG"] = str(cfg)
    res["threads"] = a.threads or os.cpu_count()
    for mode in ("raw", "coe", "raw", "coe"):  # interleaved, twice: the machine's load drifts
        p = subprocess.run([sys.executable, __file__, "--child", mode, "--model", a.model, "--tokens", str(a.tokens),
                            "--repeats", str(a.repeats)], capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise SystemExit(f"{mode} run failed:\n{p.stderr[-2000:]}")
        runs = json.loads(p.stdout.strip().splitlines()[-1])
        res.setdefault(f"{mode}_runs", []).extend(runs)  # type: ignore[attr-defined]
    raw, coe = _summary(res["raw_runs"]), _summary(res["coe_runs"])  # type: ignore[arg-type]
    res["raw"], res["coe"] = raw, coe
    res["decode_ratio"] = round(coe["decode_tps"] / raw["decode_tps"], 3)
    res["e2e_ratio"] = round(coe["e2e_tps"] / raw["e2e_tps"], 3)
    res["target"] = "decode_ratio >= 0.95"
    print(json.dumps(res))
    print("| model | raw llama.cpp tok/s (decode / end-to-end) | CoE tok/s (decode / end-to-end) | CoE ÷ raw |\n"
          f"|---|---|---|---|\n| {a.model} | {raw['decode_tps']} / {raw['e2e_tps']} | {coe['decode_tps']} / "
          f"{coe['e2e_tps']} | {res['decode_ratio']} / {res['e2e_ratio']} |", file=sys.stderr)


if __name__ == "__main__":
    main()
