"""Dense search for the knowledge base behind one small interface, :class:`VectorIndex`.

A :class:`VectorBackend` opens a knowledge base's index; :func:`choose_backend` picks one from
:data:`BACKENDS` by name or, for ``"auto"``, by what the store allows and how large the knowledge base is:

- ``numpy``: exact brute force over the float32 vectors stored in ``kb_chunks.embedding``. Works on every
  database (it is the PostgreSQL path); ~0.2 ms for the 2,500-chunk demo KB, ~25 ms at 100k on two cores.
- ``usearch``: an HNSW graph (approximate: its recall against brute force is measured in
  ``bench/kb_search.py`` and the tests) in a file next to a SQLite database, ``<db>.vectors/<kb>.usearch``.
  The file records which documents it holds; opening it syncs it with the database document by document
  (removed documents' vectors out, new documents' in: document ids are never reused, chunk ids can be), so it
  follows the content-hash re-indexing, and it is written to a temporary file and renamed, never in place.
  A missing, corrupt or foreign file is rebuilt from the database, which stays the source of truth.

sqlite-vec was the first choice for SQLite, but loading it needs ``sqlite3.Connection.enable_load_extension``,
which Python builds without ``--enable-loadable-sqlite-extensions`` (pyenv's default, this project's) lack.
pgvector is not packaged for the Debian PostgreSQL here, so PostgreSQL keeps the numpy path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select

from coe.embeddings import DIM
from coe.errors import InputError
from coe.store.repo import Store
from coe.store.tables import KbChunk

log = logging.getLogger(__name__)

ANN_MIN_CHUNKS = 250_000  # "auto" switches to the HNSW file from here (see docs/search.md: its recall costs)
DocLayout = Mapping[str, Sequence[int]]  # document id → its chunk ids


class VectorIndex(Protocol):
    """Cosine (inner product of L2-normalised vectors) search over one knowledge base's chunks."""

    backend: str
    exact: bool

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and their similarities, best first (ties by chunk id)."""
        ...

    def similarity(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact similarities of the given chunk ids (which must be in the index)."""
        ...


class VectorBackend(Protocol):
    name: str
    persistent: bool  # keeps an index outside the database that add/remove bring up to date

    def available(self, store: Store) -> bool: ...

    def open(self, store: Store, kb: str, docs: DocLayout) -> VectorIndex:
        """The index of ``kb`` holding exactly the chunks in ``docs``."""
        ...

    def discard(self, store: Store, kb: str) -> None:
        """Forget anything kept for ``kb`` outside the database (the knowledge base was dropped)."""
        ...


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, best first; equal scores in position order (deterministic)."""
    n = len(scores)
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    cand = np.arange(n) if k >= n else np.argpartition(-scores, k - 1)[:k]
    if k < n:  # argpartition splits ties at the k-th score arbitrarily: take every tied position, then cut
        cand = np.flatnonzero(scores >= scores[cand].min())
    order = np.lexsort((cand, -scores[cand]))
    return cand[order][:k].astype(np.int64)


def scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Inner products, single-threaded. Not ``matrix @ query``: a multi-threaded BLAS GEMV on a busy small
    machine waits for its threads (2,500 × 384 on 2 loaded cores: p50 0.16 ms, p99 16 ms, against
    0.08 / 0.3 ms on one thread), and the server runs searches side by side anyway."""
    return np.einsum("ij,j->i", matrix, np.asarray(query, dtype=np.float32))  # type: ignore[no-any-return]


def _matrix(blobs: Sequence[bytes]) -> np.ndarray:
    if not blobs:
        return np.zeros((0, DIM), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, DIM)


def _all_ids(docs: DocLayout) -> np.ndarray:
    ids = [i for chunk_ids in docs.values() for i in chunk_ids]
    return np.sort(np.asarray(ids, dtype=np.int64))


# ---- numpy: exact brute force ------------------------------------------------------------------------

class NumpyIndex:
    backend = "numpy"
    exact = True

    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids = np.asarray(ids, dtype=np.int64)[order]
        self.matrix = np.ascontiguousarray(matrix[order], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = scores(self.matrix, query)
        best = top_k(sims, k)
        return self.ids[best], sims[best]

    def similarity(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return scores(self.matrix[np.searchsorted(self.ids, ids)], query)


class NumpyBackend:
    name = "numpy"
    persistent = False

    def available(self, store: Store) -> bool:
        return True

    def open(self, store: Store, kb: str, docs: DocLayout) -> NumpyIndex:
        want = _all_ids(docs)
        with store.session() as s:
            rows = s.execute(select(KbChunk.id, KbChunk.embedding).where(KbChunk.kb == kb)
                             .order_by(KbChunk.id)).all()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        keep = np.isin(ids, want)  # chunks committed after the caller read ``docs`` wait for the next open
        return NumpyIndex(ids[keep], _matrix([r[1] for r in rows])[keep])

    def discard(self, store: Store, kb: str) -> None:
        pass


# ---- usearch: HNSW in a file next to the SQLite database ----------------------------------------------

_MAGIC = b"COEVEC1\n"
_HEAD = struct.Struct("<Q")
_FORMAT = 1


def sqlite_path(store: Store) -> Path | None:
    """The database file of a file-backed SQLite store; None for PostgreSQL or an in-memory database."""
    url = store.engine.url
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser()


class UsearchIndex:
    backend = "usearch"
    exact = False

    def __init__(self, index: Any) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.index) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        m = self.index.search(np.asarray(query, dtype=np.float32), min(k, len(self.index)), threads=1)
        ids = np.asarray(m.keys, dtype=np.int64)
        sims = (1.0 - np.asarray(m.distances, dtype=np.float32)).astype(np.float32)  # ip distance = 1 − dot
        order = np.lexsort((ids, -sims))
        return ids[order], sims[order]

    def similarity(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros(0, np.float32)
        got = self.index.get(np.asarray(ids, dtype=np.uint64), dtype=np.float32)
        zero = np.zeros(DIM, np.float32)  # a chunk removed since: no similarity
        return scores(np.vstack([zero if v is None else v for v in got]), query)


class UsearchBackend:
    """HNSW (usearch) kept in ``<db>.vectors/<kb>.usearch``: one file, a small JSON header (format, graph
    parameters, the documents it holds and their chunk ids) followed by usearch's own serialisation."""

    name = "usearch"
    persistent = True

    def __init__(self, connectivity: int = 16, expansion_add: int = 128, expansion_search: int = 512,
                 rebuild_share: float = 0.25) -> None:
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.expansion_search = expansion_search
        self.rebuild_share = rebuild_share  # removed vectors (tombstones) beyond this share: build afresh

    def available(self, store: Store) -> bool:
        if sqlite_path(store) is None:
            return False
        try:
            import usearch.index  # noqa: F401
        except ImportError:
            return False
        return True

    def path(self, store: Store, kb: str) -> Path:
        db = sqlite_path(store)
        if db is None:
            raise InputError("the usearch vector index needs a SQLite database file",
                             hint="use the numpy vector index with PostgreSQL or an in-memory database")
        return db.parent / f"{db.name}.vectors" / f"{kb}.usearch"

    def _params(self) -> dict[str, Any]:
        return {"ndim": DIM, "metric": "ip", "dtype": "f32", "connectivity": self.connectivity,
                "expansion_add": self.expansion_add}

    def _new(self) -> Any:
        from usearch.index import Index

        return Index(**self._params(), expansion_search=self.expansion_search)

    def open(self, store: Store, kb: str, docs: DocLayout) -> UsearchIndex:
        path = self.path(store, kb)
        loaded = self._read(path)
        index, have, tombstones = loaded if loaded is not None else (self._new(), {}, 0)
        gone = [i for d, ids in have.items() if d not in docs for i in ids]
        new_docs = [d for d in docs if d not in have]
        if not gone and not new_docs and loaded is not None:
            return UsearchIndex(index)
        live = sum(len(ids) for ids in docs.values())
        if gone and tombstones + len(gone) > self.rebuild_share * max(live, 1):
            index, have, tombstones, gone, new_docs = self._new(), {}, 0, [], list(docs)
        if gone:
            index.remove(np.asarray(gone, dtype=np.uint64))
            tombstones += len(gone)
        new_ids = np.asarray(sorted(i for d in new_docs for i in docs[d]), dtype=np.int64)
        if len(new_ids):
            got, matrix = self._vectors(store, kb, new_ids, whole=len(new_ids) * 2 > live)
            if len(got) != len(new_ids):  # the database changed under us: the next open syncs again
                kept = set(got.tolist())
                new_docs = [d for d in new_docs if all(i in kept for i in docs[d])]
                sel = np.isin(got, [i for d in new_docs for i in docs[d]])
                got, matrix = got[sel], matrix[sel]
            index.add(got.astype(np.uint64), matrix, threads=0)
        held = {d: list(docs[d]) for d in docs if d in have or d in new_docs}
        try:
            self._write(path, held, tombstones, index)
        except OSError as e:  # disk full, read-only folder: search on in memory; the next open tries again
            log.warning("cannot write the vector index %s (%s); keeping it in memory", path, e)
        return UsearchIndex(index)

    @staticmethod
    def _vectors(store: Store, kb: str, ids: np.ndarray, whole: bool) -> tuple[np.ndarray, np.ndarray]:
        rows: list[Any] = []
        with store.session() as s:
            if whole:  # most of the knowledge base: one scan beats many IN lists
                rows = list(s.execute(select(KbChunk.id, KbChunk.embedding).where(KbChunk.kb == kb)))
            else:
                for start in range(0, len(ids), 5000):
                    batch = [int(i) for i in ids[start : start + 5000]]
                    rows += s.execute(select(KbChunk.id, KbChunk.embedding).where(KbChunk.kb == kb,
                                                                                   KbChunk.id.in_(batch))).all()
        got = np.asarray([r[0] for r in rows], dtype=np.int64)
        matrix = _matrix([r[1] for r in rows])
        keep = np.isin(got, ids)
        order = np.argsort(got[keep], kind="stable")
        return got[keep][order], matrix[keep][order]

    def _read(self, path: Path) -> tuple[Any, dict[str, list[int]], int] | None:
        """The index and its documents; None (rebuild) when missing, unreadable, corrupt or built otherwise."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("cannot read %s (%s); rebuilding the vector index", path, e.__class__.__name__)
            return None
        try:
            if not data.startswith(_MAGIC):
                raise ValueError("not a coe vector index")
            start = len(_MAGIC) + _HEAD.size
            (n,) = _HEAD.unpack_from(data, len(_MAGIC))
            meta = json.loads(data[start : start + n])
            if meta.get("format") != _FORMAT or meta.get("params") != self._params():
                return None  # another layout or other graph parameters: build afresh
            from usearch.index import Index

            index = Index.restore(memoryview(data)[start + n :], expansion_search=self.expansion_search)
            docs = {str(d): [int(i) for i in ids] for d, ids in meta["docs"].items()}
            if index is None or len(index) != sum(len(v) for v in docs.values()):
                raise ValueError("the graph does not match its header")
        except (ValueError, KeyError, TypeError, RuntimeError, struct.error) as e:
            log.warning("vector index %s is unreadable (%s); rebuilding it", path, e)
            return None
        return index, docs, int(meta.get("tombstones", 0))

    def _write(self, path: Path, docs: dict[str, list[int]], tombstones: int, index: Any) -> None:
        """Temporary file in the same folder, fsync, rename: readers see the old file or the new one."""
        head = json.dumps({"format": _FORMAT, "params": self._params(), "tombstones": tombstones, "docs": docs},
                          separators=(",", ":")).encode()
        blob = index.save()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + _HEAD.pack(len(head)) + head)
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def discard(self, store: Store, kb: str) -> None:
        if sqlite_path(store) is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path(store, kb).unlink()


BACKENDS: Mapping[str, VectorBackend] = {"numpy": NumpyBackend(), "usearch": UsearchBackend()}
CHOICES = ("auto", *BACKENDS)


def choose_backend(store: Store, n_chunks: int, preference: str = "auto") -> VectorBackend:
    """``auto``: usearch for a SQLite file once a knowledge base reaches ANN_MIN_CHUNKS, else numpy."""
    if preference == "auto":
        ann = BACKENDS["usearch"]
        return ann if n_chunks >= ANN_MIN_CHUNKS and ann.available(store) else BACKENDS["numpy"]
    backend = BACKENDS.get(preference)
    if backend is None:
        raise InputError(f"unknown vector index '{preference}'", hint=f"one of: {', '.join(CHOICES)}")
    if not backend.available(store):
        raise InputError(f"the {preference} vector index cannot be used with this database",
                         hint="usearch needs a SQLite database file and `pip install usearch`; numpy works anywhere")
    return backend


__all__ = ["ANN_MIN_CHUNKS", "BACKENDS", "CHOICES", "NumpyBackend", "UsearchBackend", "VectorBackend", "VectorIndex",
           "choose_backend", "top_k"]
