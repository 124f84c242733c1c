"""The Python API.

    result = await coe.ask("一个半小时是几个半小时?", mode="collaborate")
    async for event in coe.run("question", mode="moa"): ...

Every call is a run of a workflow (``mode``), traced in the store unless ``store=False``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from coe.config import Settings, load_settings
from coe.errors import CoeError, InputError
from coe.events import RunEvent, RunFailed, RunFinished, RunStarted, StageFailed, StageFinished, Totals
from coe.orchestrator import run_request
from coe.providers.pool import ModelPool
from coe.store.repo import Store, open_store
from coe.workflows.engine import DEFAULT_MODE

MAX_QUESTION_CHARS = 200_000


def check_question(question: str) -> str:
    q = question.strip()
    if not q:
        raise InputError("the question is empty", hint="pass the question as an argument or on stdin")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(q):,} characters; the limit is {MAX_QUESTION_CHARS:,}",
                         hint="shorten it, or put long material in the knowledge base")
    if "\x00" in q:
        raise InputError("the question contains NUL bytes (binary input?)", hint="pass text, not a binary file")
    return q


@dataclass
class StageResult:
    stage: str
    role: str
    model: str
    status: str
    output: str = ""
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    latency_ms: float = 0.0


@dataclass
class RunResult:
    run_id: str
    mode: str
    answer: str
    model: str  # the model that wrote the answer
    stages: list[StageResult]
    totals: Totals
    extras: dict[str, Any] = field(default_factory=dict)  # references, retrieval, follow-ups

    @property
    def references(self) -> list[dict[str, Any]]:
        return list(self.extras.get("references", []))

    @property
    def text(self) -> str:
        return self.answer


class RunCollector:
    """Folds a run's event stream into a RunResult (used by the API, CLI and server)."""

    def __init__(self) -> None:
        self.run_id = ""
        self.mode = ""
        self.final = ""
        self.stages: dict[str, StageResult] = {}
        self.answer: str | None = None
        self.error: str | None = None
        self.totals = Totals()
        self.extras: dict[str, Any] = {}
        self.streamed_final = ""  # the final stage's text as streamed (before citation post-processing)

    def add(self, ev: RunEvent) -> None:
        if isinstance(ev, RunStarted):
            self.run_id, self.mode, self.final = ev.run_id, ev.mode, ev.final
        elif isinstance(ev, StageFinished):
            if ev.stage == self.final:
                self.streamed_final = ev.output
            self.stages[ev.stage] = StageResult(
                ev.stage, ev.role, ev.model, "ok", ev.output,
                usage={"input_tokens": ev.usage.input_tokens, "output_tokens": ev.usage.output_tokens},
                cost_usd=ev.cost.total_usd, latency_ms=round(ev.latency_ms, 1))
        elif isinstance(ev, StageFailed) and ev.fallback_to is None:
            self.stages[ev.stage] = StageResult(ev.stage, ev.role, ev.model, "skipped" if ev.skipped else "failed",
                                                error=ev.error)
        elif isinstance(ev, RunFinished):
            self.answer, self.totals, self.extras = ev.answer, ev.totals, dict(ev.extras)
        elif isinstance(ev, RunFailed):
            self.error, self.totals = ev.error, ev.totals

    def result(self) -> RunResult:
        if self.answer is None:
            raise CoeError(self.error or "the run did not finish", hint=f"see `coe runs show {self.run_id[:12]}`")
        final = self.stages.get(self.final)
        return RunResult(self.run_id, self.mode, self.answer, final.model if final else "",
                         list(self.stages.values()), self.totals, self.extras)


async def run(question: str, *, mode: str = DEFAULT_MODE, team: Sequence[str] | None = None,
              fallbacks: Sequence[str] | None = None, settings: Settings | None = None,
              pool: ModelPool | None = None, store: Store | bool = True, kb: str | None = None,
              use_kb: bool = True) -> AsyncIterator[RunEvent]:
    """The typed event stream of one run (see coe.events). Retrieval modes cite the knowledge base."""
    q = check_question(question)
    settings = settings or (pool.settings if pool else load_settings())
    own_pool = pool is None
    pool = pool or ModelPool(settings)
    st = open_store(settings.database_url) if store is True else (store or None)
    try:
        async for ev in run_request(q, mode, pool=pool, store=st, settings=settings, team=team, fallbacks=fallbacks,
                                    kb=kb, use_kb=use_kb):
            yield ev
    finally:
        if own_pool:
            await pool.aclose()
        if store is True and st is not None:
            st.close()


async def ask(question: str, *, mode: str = DEFAULT_MODE, model: str | None = None,
              team: Sequence[str] | None = None, **kw: object) -> RunResult:
    """Answer ``question`` in ``mode``; ``model`` is shorthand for a team of one."""
    collector = RunCollector()
    async for ev in run(question, mode=mode, team=team or ([model] if model else None), **kw):  # type: ignore[arg-type]
        collector.add(ev)
    return collector.result()


stream = run
