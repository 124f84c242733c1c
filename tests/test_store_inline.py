"""The SQLite fast path for trace writes (coe.store.writes): same rows as SQLAlchemy's, never waits on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from coe.store import RunRecord, StageRecord, open_store
from coe.store.writes import CHECKPOINT_EVERY, InlineSqliteWriter
from coe.types import Cost, Usage


def _run(status: str = "ok") -> RunRecord:
    run = RunRecord(id=uuid.uuid4().hex, mode="collaborate", question="一个半小时是几个半小时? \"quoted\"",
                    team=["a/x", "b/y"], route={"category": "math", "confidence": 0.9, "nested": [1, None]})
    run.stages.append(StageRecord(seq=1, stage="expert", role="expert", model="a/x", status="ok", prompt="p",
                                  output="三个", usage=Usage(10, 3), cost=Cost(0.001, 0.002), latency_ms=12.5,
                                  attempts=[{"model": "c/z", "error": "HTTP 500", "partial": "x"}]))
    run.stages.append(StageRecord(seq=2, stage="reflector", role="reflector", model="b/y", status="skipped",
                                  prompt="q", error="timed out"))
    run.status, run.answer, run.extras = status, "三个", {"references": [{"n": 1, "source": "a.md"}]}
    run.usage, run.cost, run.latency_ms = Usage(10, 3), Cost(0.001, 0.002), 40.0
    run.finished_at = datetime.now(UTC)
    return run


def _rows(path: Path, run_id: str) -> tuple[tuple[object, ...], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        stages = conn.execute("SELECT * FROM stages WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
    return run[1:], [s[2:] for s in stages]  # without the ids


def test_inline_rows_equal_sqlalchemy_rows(tmp_path: Path) -> None:
    db = tmp_path / "coe.db"
    store = open_store(f"sqlite:///{db}")
    assert store._inline is not None
    via_sqlalchemy, via_inline = _run(), _run()
    via_inline.created_at = via_sqlalchemy.created_at
    via_inline.finished_at = via_sqlalchemy.finished_at
    store._write([("insert", via_sqlalchemy)])
    assert store._inline.write([("insert", via_inline)])
    a, b = _rows(db, via_sqlalchemy.id), _rows(db, via_inline.id)
    assert a == b and len(b[1]) == 2
    # started first, finished later: an INSERT then an UPDATE, read back through the ORM
    later = _run()
    assert store._inline.write([("start", later)])
    assert store.get_run(later.id).status == "running"
    assert store._inline.write([("finish", later)])
    got = store.get_run(later.id)
    assert (got.status, got.answer, got.route, got.extras) == ("ok", "三个", later.route, later.extras)
    assert [s.attempts for s in got.stages] == [later.stages[0].attempts, []]
    assert got.created_at.replace(tzinfo=None) == later.created_at.replace(tzinfo=None)
    store.close()


def test_in_memory_and_other_databases_take_the_thread_path(tmp_path: Path) -> None:
    assert open_store("sqlite://")._inline is None
    assert open_store(f"sqlite:///{tmp_path / 'x.db'}?timeout=3")._inline is None
    assert InlineSqliteWriter.for_engine(open_store(f"sqlite:///{tmp_path / 'y.db'}").engine) is not None


async def test_a_locked_database_never_blocks_the_loop(tmp_path: Path) -> None:
    """Another process holds the write lock: the commit goes to the worker thread, which waits; the loop keeps
    running; the run is committed once the lock is released; nothing is written twice."""
    db = tmp_path / "coe.db"
    store = open_store(f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    run = _run()
    finish = asyncio.create_task(store.afinish_run(run, store.start_run_soon(run)))
    ticks = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 10 and not finish.done()  # the loop ran on; the write waits in the worker thread
    holder.execute("COMMIT")
    holder.close()
    await asyncio.wait_for(finish, 10)
    assert store.get_run(run.id).answer == "三个"
    later = _run()
    await store.afinish_run(later, store.start_run_soon(later))  # the lock is gone: inline again
    assert [r.id for r in store.list_runs(10)].count(run.id) == 1
    store.close()


async def test_wal_is_checkpointed_off_the_loop(tmp_path: Path) -> None:
    db = tmp_path / "coe.db"
    store = open_store(f"sqlite:///{db}")
    for _ in range(CHECKPOINT_EVERY):
        run = _run()
        await store.afinish_run(run, store.start_run_soon(run))
    await asyncio.gather(*store._checkpoints)
    assert len(store.list_runs(CHECKPOINT_EVERY + 1)) == CHECKPOINT_EVERY
    with sqlite3.connect(db) as conn:  # a PASSIVE checkpoint copied every frame: a new one has nothing left
        busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and log == done
    store.close()
