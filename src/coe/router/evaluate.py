"""Router evaluation on a labelled file: accuracy, per-category precision/recall, confusion, latency."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from coe.catalog import CATEGORIES
from coe.router.base import Router
from coe.router.data import Example


def evaluate(router: Router, examples: list[Example]) -> dict[str, Any]:
    """Routes each query one at a time (latency as a caller sees it), after one warm-up call."""
    router.route(examples[0][0])
    preds: list[str] = []
    lat: list[float] = []
    fast = 0
    for q, _ in examples:
        t0 = time.perf_counter()
        d = router.route(q)
        lat.append((time.perf_counter() - t0) * 1000)
        preds.append(d.category)
        fast += d.method.endswith("ngram")
    gold = [c for _, c in examples]
    cats = [c for c in CATEGORIES if c in gold or c in preds]
    confusion = {g: {p: 0 for p in cats} for g in cats}
    for g, p in zip(gold, preds, strict=True):
        confusion[g][p] += 1
    per: dict[str, dict[str, float]] = {}
    for c in cats:
        tp = confusion[c][c]
        predicted = sum(confusion[g][c] for g in cats)
        actual = sum(confusion[c].values())
        per[c] = {"precision": round(tp / predicted, 4) if predicted else 0.0,
                  "recall": round(tp / actual, 4) if actual else 0.0, "n": actual}
    correct = sum(g == p for g, p in zip(gold, preds, strict=True))
    return {"accuracy": round(correct / len(gold), 4), "n": len(gold), "per_category": per,
            "confusion": confusion, "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3), "fast_path_share": round(fast / len(gold), 4),
            "router": getattr(router, "name", "?")}
