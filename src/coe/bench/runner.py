"""Runs a benchmark: every (system, item) answered through the engine (so cost, tokens and latency come from
it), objective items scored exactly, subjective ones judged; each result stored as soon as it is known.

Concurrency is a semaphore; a rate-limited call pauses every worker (a shared cool-down with exponential
backoff and jitter) and is retried. A re-run with the same parameters (or ``run_id``) skips finished items.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from coe.api import RunCollector
from coe.bench.base import Item
from coe.bench.judge import Judge, Judgement
from coe.bench.store import BenchRepo, ResultRow, RunInfo
from coe.bench.suites import get_suite
from coe.bench.systems import System, resolve
from coe.config import Settings
from coe.errors import CoeError, InputError, RateLimitedError
from coe.orchestrator import run_request
from coe.providers.pool import ModelPool
from coe.router.service import RouterService
from coe.store.repo import Store

DONE, ANSWERED, ERROR = "done", "answered", "error"


@dataclass
class BenchConfig:
    suite: str
    systems: list[str]
    limit: int | None = None
    seed: int = 0
    judge: str | None = None
    baseline: str | None = None  # pairwise baseline for subjective items (default: the first system)
    max_tokens: int | None = None  # caps every answer (each item has its own default)
    temperature: float = 0.0
    concurrency: int = 4
    max_attempts: int = 5  # per call, on rate limits
    backoff_s: float = 2.0

    def params(self) -> dict[str, Any]:
        """What identifies a run for resuming (concurrency and retries do not)."""
        return {"limit": self.limit, "seed": self.seed, "judge": self.judge, "baseline": self.baseline,
                "max_tokens": self.max_tokens, "temperature": self.temperature}

    @classmethod
    def from_run(cls, run: RunInfo, concurrency: int) -> BenchConfig:
        p = run.params
        return cls(run.suite, list(run.systems), p.get("limit"), int(p.get("seed", 0)), p.get("judge"),
                   p.get("baseline"), p.get("max_tokens"), float(p.get("temperature", 0.0)), concurrency)


@dataclass(frozen=True)
class Progress:
    phase: str  # answer | judge
    done: int
    total: int
    system: str = ""
    item: str = ""
    status: str = ""


@dataclass
class RunSummary:
    run: RunInfo
    resumed: bool
    skipped: int  # results already stored
    answered: int = 0
    judged: int = 0
    errors: int = 0
    seconds: float = 0.0
    rate_limit_waits: int = 0
    errors_seen: list[str] = field(default_factory=list)


class RateGate:
    """One shared cool-down: after a rate limit every worker waits, the wait doubling per attempt."""

    def __init__(self, base_s: float) -> None:
        self.base_s = base_s
        self.until = 0.0
        self.waits = 0

    async def wait(self) -> None:
        delay = self.until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def hit(self, attempt: int) -> None:
        self.waits += 1
        delay = min(60.0, self.base_s * 2**attempt) * (0.5 + random.random() / 2)
        self.until = max(self.until, time.monotonic() + delay)


def is_rate_limited(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, RateLimitedError) or "http 429" in text or "rate limit" in text


class BenchRunner:
    def __init__(self, settings: Settings, pool: ModelPool, store: Store,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.settings, self.pool, self.store = settings, pool, store
        self.repo = BenchRepo(store)
        self.router = RouterService(settings, pool)
        self.on_progress = on_progress or (lambda p: None)

    def prepare(self, cfg: BenchConfig, *, run_id: str | None = None,
                new: bool = False) -> tuple[RunInfo, bool, BenchConfig]:
        """The run to work on and its configuration: ``run_id``'s (with its own parameters), else the newest run
        with the same parameters (unless ``new``), else a fresh one. Checks the suite, the systems and the judge
        first (one-line errors)."""
        stored = self.repo.get(run_id) if run_id else None
        if stored is not None:
            cfg = BenchConfig.from_run(stored, cfg.concurrency)
        suite = get_suite(cfg.suite)
        for name in cfg.systems:
            resolve(name, self.pool)
        if cfg.baseline is not None and cfg.baseline not in cfg.systems:
            raise InputError(f"baseline '{cfg.baseline}' is not one of the systems", hint="add it to --systems")
        if suite.kind == "subjective" and not cfg.judge:
            raise InputError(f"suite '{cfg.suite}' has subjective items and needs a judge",
                             hint="pass --judge MODEL (a strong model id from `coe models`)")
        if cfg.judge:
            resolve(cfg.judge, self.pool)
        if stored is not None:
            return stored, True, cfg
        same = None if new else self.repo.find_same(cfg.suite, cfg.systems, cfg.params())
        if same is not None:
            return same, True, cfg
        n = len(suite.items(cfg.limit, cfg.seed))
        return self.repo.create(cfg.suite, cfg.systems, cfg.params(), n), False, cfg

    async def run(self, cfg: BenchConfig, run: RunInfo, resumed: bool = False) -> RunSummary:
        suite = get_suite(cfg.suite)
        items = suite.items(cfg.limit, cfg.seed)
        systems = [resolve(n, self.pool) for n in cfg.systems]
        rows = {(r.system, r.item_id): r for r in await asyncio.to_thread(self.repo.results, run.id)}
        summary = RunSummary(run, resumed, sum(r.status == DONE for r in rows.values()))
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(max(1, cfg.concurrency))
        gate = RateGate(cfg.backoff_s)
        todo = [(s, it) for it in items for s in systems
                if (s.name, it.id) not in rows or rows[(s.name, it.id)].status == ERROR]
        total = len(items) * len(systems)
        done = [total - len(todo)]

        async def answer_one(system: System, item: Item) -> None:
            async with sem:
                row = await self._answer(system, item, cfg, gate)
            await asyncio.to_thread(self.repo.save, run.id, row)
            rows[(system.name, item.id)] = row
            done[0] += 1
            summary.answered += 1
            if row.status == ERROR:
                summary.errors += 1
                summary.errors_seen.append(f"{system.name} {item.id}: {row.error}")
            self.on_progress(Progress("answer", done[0], total, system.name, item.id, row.status))

        self.on_progress(Progress("answer", done[0], total))
        await _gather([answer_one(s, it) for s, it in todo])
        subjective = [it for it in items if it.kind == "subjective"]
        if subjective and cfg.judge:
            await self._judge_all(cfg, run, subjective, systems, rows, sem, gate, summary)
        summary.seconds = time.perf_counter() - t0
        summary.rate_limit_waits = gate.waits
        complete = all(rows.get((s.name, it.id)) is not None and rows[(s.name, it.id)].status == DONE
                       for it in items for s in systems)
        await asyncio.to_thread(self.repo.set_status, run.id, "done" if complete else "partial")
        run.status = "done" if complete else "partial"
        return summary

    async def _answer(self, system: System, item: Item, cfg: BenchConfig, gate: RateGate) -> ResultRow:
        cap = min(item.max_tokens, cfg.max_tokens) if cfg.max_tokens else item.max_tokens
        row = ResultRow(system.name, item.id, item.suite, item.category, ERROR)
        for attempt in range(cfg.max_attempts):
            await gate.wait()
            c = RunCollector()
            try:
                async for ev in run_request(item.prompt, system.mode, pool=self.pool, store=self.store,
                                            settings=self.settings, team=system.team, router=self.router,
                                            max_tokens=cap, temperature=cfg.temperature, use_kb=False):
                    c.add(ev)
                res = c.result()
            except CoeError as e:
                _add_totals(row, c)
                row.error, row.trace_id = str(e), c.run_id or None
                if is_rate_limited(e) and attempt + 1 < cfg.max_attempts:
                    gate.hit(attempt)
                    continue
                return row
            _add_totals(row, c)
            row.answer, row.trace_id, row.error = res.answer, res.run_id, None
            break
        if item.kind == "subjective":
            row.status = ANSWERED
            return row
        try:
            sc = await asyncio.to_thread(get_suite(item.suite).score, item, row.answer)
        except CoeError as e:
            row.status, row.error = ERROR, f"scoring failed: {e}"
            return row
        row.status, row.score, row.detail = DONE, sc.score, sc.detail
        return row

    async def _judge_all(self, cfg: BenchConfig, run: RunInfo, items: list[Item], systems: list[System],
                         rows: dict[tuple[str, str], ResultRow], sem: asyncio.Semaphore, gate: RateGate,
                         summary: RunSummary) -> None:
        judge = Judge(self.pool, str(cfg.judge))
        baseline = cfg.baseline or systems[0].name
        todo = [(s, it) for it in items for s in systems
                if (r := rows.get((s.name, it.id))) is not None and r.status == ANSWERED]
        total = len(items) * len(systems)
        done = [total - len(todo)]

        async def judge_one(system: System, item: Item) -> None:
            row = rows[(system.name, item.id)]
            base = rows.get((baseline, item.id))
            j = Judgement()
            async with sem:
                for attempt in range(cfg.max_attempts):
                    await gate.wait()
                    j = Judgement()
                    try:
                        await judge.grade(item.prompt, item.data["rubric"], row.answer, j)
                        if system.name != baseline and base is not None and base.status in (ANSWERED, DONE):
                            await judge.compare(item.prompt, item.data["rubric"], row.answer, base.answer, j)
                        break
                    except CoeError as e:
                        j.errors.append(str(e))
                        if not (is_rate_limited(e) and attempt + 1 < cfg.max_attempts):
                            break
                        gate.hit(attempt)
                    finally:  # every call is paid for, also those of an attempt that failed later
                        row.judge_calls += j.calls
                        row.judge_cost_usd += j.cost_usd
            if j.rating is not None and not j.errors:
                row.status, row.score, row.error = DONE, (j.rating - 1) / 9, None
                row.detail = {"rating": j.rating, "judge": cfg.judge, **({"pairwise": j.pairwise} if j.pairwise
                                                                        else {})}
            else:
                row.error = "judge: " + "; ".join(j.errors or ["no verdict"])
                row.detail = {"judge": cfg.judge, "judge_replies": j.replies}
                summary.errors += 1
                summary.errors_seen.append(f"{system.name} {item.id}: {row.error}")
            await asyncio.to_thread(self.repo.save, run.id, row)
            done[0] += 1
            summary.judged += 1
            self.on_progress(Progress("judge", done[0], total, system.name, item.id, row.status))

        self.on_progress(Progress("judge", done[0], total))
        await _gather([judge_one(s, it) for s, it in todo])


def _add_totals(row: ResultRow, c: RunCollector) -> None:
    t = c.totals
    row.input_tokens += t.usage.input_tokens
    row.output_tokens += t.usage.output_tokens
    row.cost_usd += t.cost.total_usd
    row.latency_ms = t.latency_ms


async def _gather(coros: list[Awaitable[None]]) -> None:
    """Run all; on the first failure or cancellation, cancel the rest (stored results stay stored)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
