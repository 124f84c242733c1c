"""Router latency: single decisions (p50/p99, fresh embedding cache) and batched throughput.

    .venv/bin/python bench/router_latency.py

Uses the shipped router (trained and cached under COE_HOME by ./install.sh) and the held-out evaluation
queries. Prints one JSON object. Targets (issue #5): p50 <= 5 ms after warm-up, >= 500 decisions/s batched.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from coe.config import load_settings
from coe.router.data import builtin_path, load_jsonl
from coe.router.features import Embedder
from coe.router.service import RouterService


def main() -> None:
    queries = [q for q, _ in load_jsonl(builtin_path("eval.jsonl"))]
    svc = RouterService(load_settings(), embedder=Embedder(cache_size=0))  # no cache: every embedding is computed
    router = svc.router()
    router.route("warm-up: load the embedding model")
    router.route("热身")
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        router.route(q)
        lat.append((time.perf_counter() - t0) * 1000)
    batches = []
    for _ in range(3):
        svc.embedder = Embedder(cache_size=0)
        router.embedder = svc.embedder  # type: ignore[attr-defined]
        router.route("warm-up")
        t0 = time.perf_counter()
        router.route_batch(queries)
        batches.append(len(queries) / (time.perf_counter() - t0))
    res = {
        "bench": "router_latency", "router": getattr(router, "name", "?"), "n": len(queries),
        "p50_ms": round(float(np.percentile(lat, 50)), 3), "p90_ms": round(float(np.percentile(lat, 90)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3), "mean_ms": round(statistics.mean(lat), 3),
        "batched_decisions_per_s": round(statistics.median(batches), 1),
        "targets": {"p50_ms": "<= 5", "batched_decisions_per_s": ">= 500"},
    }
    print(json.dumps(res))
    print("| router | decisions | p50 ms | p90 ms | p99 ms | batched decisions/s |\n|---|---|---|---|---|---|\n"
          f"| {res['router']} | {res['n']} | {res['p50_ms']} | {res['p90_ms']} | {res['p99_ms']} | "
          f"{res['batched_decisions_per_s']} |", file=sys.stderr)


if __name__ == "__main__":
    main()
