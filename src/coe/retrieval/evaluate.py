"""Retrieval quality on a labelled set: recall@k for BM25, dense and hybrid."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from coe.errors import InputError
from coe.jsonl import read_jsonl
from coe.retrieval.index import KnowledgeBase, Mode


def builtin_eval_path() -> Path:
    return Path(str(resources.files("coe.retrieval") / "data" / "retrieval_eval.jsonl"))


def load_eval(path: str | Path) -> list[dict[str, Any]]:
    rows = read_jsonl(path)
    for n, r in rows:
        if not r.get("query") or not isinstance(r.get("relevant"), list):
            raise InputError(f"{path}:{n}: needs 'query' (text) and 'relevant' (list of passage titles)")
    return [r for _, r in rows]


def recall_at_k(kb: KnowledgeBase, name: str, rows: list[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    """A query counts as found when a passage titled with one of its relevant labels is in the top k."""
    out: dict[str, Any] = {"n": len(rows), "k": k}
    modes: tuple[Mode, ...] = ("bm25", "dense", "hybrid")
    for mode in modes:
        hits = 0
        per_kind: dict[str, list[int]] = {}
        for r in rows:
            titles = {p.title for p in kb.search(r["query"], name, k, mode)}
            hit = int(bool(titles & set(r["relevant"])))
            hits += hit
            per_kind.setdefault(str(r.get("kind", "all")), []).append(hit)
        out[mode] = {"recall": round(hits / max(1, len(rows)), 4),
                     "by_kind": {kd: round(sum(v) / len(v), 4) for kd, v in sorted(per_kind.items())}}
    return out
