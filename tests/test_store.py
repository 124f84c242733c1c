"""Traces in SQLite and in a real PostgreSQL (COE_TEST_POSTGRES_URL; CI starts one with scripts/services.sh)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from coe.errors import InputError, StoreError
from coe.store import RunRecord, StageRecord, Store, open_store
from coe.types import Cost, Usage


def postgres_url() -> str | None:
    url = os.environ.get("COE_TEST_POSTGRES_URL")
    if not url and os.environ.get("CI"):
        pytest.fail("CI must run the PostgreSQL tests: start it with scripts/services.sh")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'coe.db'}")
    else:
        url = postgres_url()
        if not url:
            pytest.skip("no PostgreSQL: run scripts/services.sh and export COE_TEST_POSTGRES_URL")
        s = open_store(url)
    yield s
    s.close()


def _run() -> RunRecord:
    rid = uuid.uuid4().hex
    return RunRecord(id=rid, mode="collaborate", question="一个半小时是几个半小时?", team=["a/x", "b/y"],
                     route={"category": "math", "confidence": 0.9})


def test_round_trip_with_stages(store: Store) -> None:
    run = _run()
    store.start_run(run)
    assert store.get_run(run.id).status == "running"
    run.status, run.answer = "ok", "三个"
    run.usage, run.cost, run.latency_ms = Usage(10, 5), Cost(0.001, 0.002), 1234.5
    run.stages = [
        StageRecord(seq=1, stage="expert", role="expert", model="a/x", status="ok", prompt="p1", output="o1",
                    usage=Usage(6, 3), cost=Cost(0.0005, 0.001), latency_ms=500,
                    attempts=[{"model": "c/z", "error": "HTTP 503", "partial": "half"}]),
        StageRecord(seq=2, stage="reflector", role="reflector", model="b/y", status="skipped", prompt="p2",
                    error="timeout"),
    ]
    store.finish_run(run)
    got = store.get_run(run.id[:10])
    assert got.status == "ok" and got.answer == "三个" and got.route == {"category": "math", "confidence": 0.9}
    assert got.usage == Usage(10, 5) and got.cost.total_usd == pytest.approx(0.003)
    assert [s.stage for s in got.stages] == ["expert", "reflector"]
    assert got.stages[0].attempts[0]["partial"] == "half" and got.stages[1].status == "skipped"
    assert run.id in [r.id for r in store.list_runs(50)]


def test_finish_is_all_or_nothing(store: Store) -> None:
    run = _run()
    store.start_run(run)
    run.status = "ok"
    run.stages = [StageRecord(seq=1, stage="a", role="r", model="m", status="ok", prompt="p"),
                  StageRecord(seq=2, stage="b" * 500, role="r", model="m", status="ok", prompt="p")]
    if store.engine.dialect.name == "sqlite":  # SQLite does not enforce VARCHAR length; use a NUL instead
        run.stages[1] = StageRecord(seq=2, stage="b", role="r", model="m", status="ok", prompt="p",
                                    attempts=[{"bad": object()}])  # not JSON-serialisable
    with pytest.raises((StoreError, TypeError)):
        store.finish_run(run)
    got = store.get_run(run.id)
    assert got.status == "running" and got.stages == []


def test_unknown_and_ambiguous_ids(store: Store) -> None:
    with pytest.raises(InputError, match="no run"):
        store.get_run("does-not-exist")


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_store(url).close()
    open_store(url).close()


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match="unavailable") as ei:
        open_store("postgresql://coe:s3cret-pw@127.0.0.1:9/nothing")
    assert "s3cret-pw" not in str(ei.value)
