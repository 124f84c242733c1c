"""Benchmark runs and per-item results in the project's store (tables ``bench_runs``, ``bench_results``).
Each result is written as soon as it is known, so an interrupted run resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from coe.errors import InputError
from coe.store.repo import Store
from coe.store.tables import BenchResult, BenchRun


@dataclass
class RunInfo:
    id: str
    suite: str
    systems: list[str]
    params: dict[str, Any]
    status: str = "running"
    n_items: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None


@dataclass
class ResultRow:
    system: str
    item_id: str
    suite: str
    category: str
    status: str  # answered (awaits the judge) | done | error
    answer: str = ""
    score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    trace_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    judge_calls: int = 0
    judge_cost_usd: float = 0.0


def params_key(suite: str, systems: list[str], params: dict[str, Any]) -> str:
    blob = json.dumps({"suite": suite, "systems": sorted(systems), **params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class BenchRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, suite: str, systems: list[str], params: dict[str, Any], n_items: int) -> RunInfo:
        run = RunInfo(uuid.uuid4().hex, suite, list(systems), dict(params), n_items=n_items)
        with self.store.session() as s, s.begin():
            s.add(BenchRun(id=run.id, created_at=run.created_at, suite=suite, systems=run.systems, params=run.params,
                           params_key=params_key(suite, systems, params), status="running", n_items=n_items))
        return run

    def find_same(self, suite: str, systems: list[str], params: dict[str, Any]) -> RunInfo | None:
        """The newest run with the same suite, systems and parameters (the one a re-run resumes)."""
        key = params_key(suite, systems, params)
        with self.store.session() as s:
            row = s.scalars(select(BenchRun).where(BenchRun.params_key == key)
                            .order_by(BenchRun.created_at.desc()).limit(1)).first()
            return _info(row) if row else None

    def get(self, run_id: str) -> RunInfo:
        """A run by id or a unique prefix of it."""
        if not run_id.strip():
            raise InputError("the run id is empty", hint="see `coe bench list`")
        with self.store.session() as s:
            rows = s.scalars(select(BenchRun).where(BenchRun.id.startswith(run_id, autoescape=True)).limit(2)).all()
        if not rows:
            raise InputError(f"no benchmark run '{run_id}'", hint="see `coe bench list`")
        if len(rows) > 1:
            raise InputError(f"benchmark run id '{run_id}' is ambiguous", hint="give more characters")
        return _info(rows[0])

    def recent(self, limit: int = 20) -> list[RunInfo]:
        with self.store.session() as s:
            rows = s.scalars(select(BenchRun).order_by(BenchRun.created_at.desc()).limit(limit)).all()
            return [_info(r) for r in rows]

    def set_status(self, run_id: str, status: str) -> None:
        done = datetime.now(UTC) if status != "running" else None
        with self.store.session() as s, s.begin():
            s.execute(update(BenchRun).where(BenchRun.id == run_id).values(status=status, finished_at=done))

    def results(self, run_id: str) -> list[ResultRow]:
        with self.store.session() as s:
            rows = s.scalars(select(BenchResult).where(BenchResult.run_id == run_id).order_by(BenchResult.id)).all()
            return [_row(r) for r in rows]

    def save(self, run_id: str, r: ResultRow) -> None:
        """Insert or replace the result of (system, item), in its own transaction."""
        values = {k: getattr(r, k) for k in ResultRow.__dataclass_fields__}
        values["detail"] = r.detail or None
        with self.store.session() as s, s.begin():
            row = s.scalars(select(BenchResult).where(BenchResult.run_id == run_id, BenchResult.system == r.system,
                                                      BenchResult.item_id == r.item_id)).first()
            if row is None:
                s.add(BenchResult(run_id=run_id, updated_at=datetime.now(UTC), **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)
                row.updated_at = datetime.now(UTC)


def _info(r: BenchRun) -> RunInfo:
    return RunInfo(r.id, r.suite, list(r.systems), dict(r.params), r.status, r.n_items, r.created_at, r.finished_at)


def _row(r: BenchResult) -> ResultRow:
    return ResultRow(r.system, r.item_id, r.suite, r.category, r.status, r.answer, r.score, dict(r.detail or {}),
                     r.error, r.trace_id, r.input_tokens, r.output_tokens, r.cost_usd, r.latency_ms, r.judge_calls,
                     r.judge_cost_usd)
