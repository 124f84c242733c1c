"""Runs a workflow: stages in order, parallel groups concurrently, fallbacks, skips, timeouts, traces.

``Engine.run`` is an async generator of run events (coe.events). Closing it cancels the run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coe.errors import CoeError, ProviderError
from coe.events import (
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    StageFailed,
    StageFinished,
    StageStarted,
    Token,
    Totals,
)
from coe.providers.pool import ModelPool
from coe.store.repo import RunRecord, StageRecord, Store
from coe.types import ChatRequest, Cost, Fallback, Message, Usage
from coe.workflows.base import QUESTION, StageSpec, Workflow, load_workflow
from coe.workflows.prompts import (
    PREVIOUS_HEADER,
    ROLE_LABELS,
    detect_language,
    load_template,
    parse_items,
    render,
)
from coe.workflows.team import assign_team, rank_models, slot_plan

MAX_FALLBACKS = 2
DEFAULT_MODE = "direct"

# A router hook: question → (route info for the trace, ranked candidate model ids). Set by the router layer.
RouteFn = Callable[[str], Awaitable[tuple[dict[str, Any], list[str]]]]
# Extra prompt variables per stage (spec, item) — e.g. retrieved passages. Set by the orchestrator.
VarsFn = Callable[[StageSpec, "str | None"], Awaitable[dict[str, str]]]
# The final answer's last step (citation checks, references) → (answer, extras for the trace).
FinalizeFn = Callable[[str], Awaitable[tuple[str, dict[str, Any]]]]


@dataclass
class Output:
    label: str
    model: str
    text: str


@dataclass
class Member:
    key: str  # unique stage key in the run, e.g. "proposer_2" or "sub_1"
    spec: StageSpec
    round: int
    seq: int
    models: list[str]
    item: str | None = None


@dataclass
class _RunState:
    record: RunRecord
    lang: str
    slots: dict[int, str]
    plan: dict[str, int]
    routed: list[str]  # the router's candidates ([] when not routed or a team was given)
    extra: list[str]  # fallback models for every stage
    max_tokens: int | None = None  # the caller's cap on every stage
    temperature: float | None = None  # the caller's temperature for every stage
    variables: VarsFn | None = None
    outputs: dict[str, list[Output]] = field(default_factory=dict)
    failed_required: list[str] = field(default_factory=list)


_DONE = object()


class Engine:
    def __init__(self, pool: ModelPool, store: Store | None = None, *, route: RouteFn | None = None) -> None:
        self.pool = pool
        self.store = store
        self.route = route

    async def run(self, question: str, mode: str = DEFAULT_MODE, *, team: Sequence[str] | None = None,
                  fallbacks: Sequence[str] | None = None, workflow: Workflow | None = None,
                  route_info: dict[str, Any] | None = None, max_tokens: int | None = None,
                  temperature: float | None = None, variables: VarsFn | None = None,
                  finalize: FinalizeFn | None = None) -> AsyncGenerator[RunEvent, None]:
        """Run ``mode`` on ``question``. ``team`` fills the roles in order (no automatic fallback then, unless
        ``fallbacks`` names models); without a team the best available models are picked and back each other up.
        """
        wf = workflow or load_workflow(mode, self.pool.settings.file.workflows_dir)
        team = list(team or self.pool.settings.file.team or []) or None
        for m in team or ():
            self.pool.provider(m)  # unknown id or missing key → one clear error before anything runs
        lang = detect_language(question)
        info, routed = await self._route(question, wf)
        route_info = route_info or info
        ranked = rank_models(self.pool, lang)
        slots = assign_team(wf, ranked, team)
        rec = RunRecord(id=uuid.uuid4().hex, mode=wf.name, question=question, route=route_info,
                        team=[slots[s] for s in sorted(slots)])
        extra = list(fallbacks) if fallbacks is not None else ([] if team else ranked)
        state = _RunState(rec, lang, slots, slot_plan(wf), [] if team else routed, extra, max_tokens, temperature,
                          variables)
        t0 = time.perf_counter()
        # The first row is written later, not awaited (the first token never waits for a commit; a short run is
        # written once, whole). The final write is awaited, so the trace is committed before the run ends.
        started = self.store.start_run_soon(rec) if self.store else None
        finished = False
        try:
            yield RunStarted(rec.id, wf.name, question, route_info, tuple(rec.team), wf.final_stage)
            for step in wf.steps:
                for rnd in range(1, step.rounds + 1):
                    # One step: its members run concurrently and their events interleave. A lone member runs
                    # inline (no task, no queue, no extra generator: each token costs one hop less).
                    members = self._members(step.parallel, rnd, step.rounds, state)
                    results: dict[str, Output | None] = {}
                    previous = {sp.id: list(state.outputs.get(sp.id, [])) for sp in step.parallel} if rnd > 1 else {}
                    events = (self._member(members[0], state, previous, results) if len(members) == 1
                              else self._concurrently(members, state, previous, results))
                    async with aclosing(events):
                        async for ev in events:
                            yield ev
                    _collect(members, step.parallel, state, results)
                    if state.failed_required:
                        break
                if state.failed_required:
                    break
            totals = _totals(rec.stages, t0)
            final = state.outputs.get(wf.final_stage) or []
            if state.failed_required or not final:
                failed = state.failed_required or [wf.final_stage]
                rec.status, rec.error = "failed", f"stage {failed[0]} failed: " + _last_error(rec, failed[0])
                yield RunFailed(rec.id, rec.error, totals)
            else:
                answer, extras = final[-1].text, dict[str, Any]()
                if finalize is not None:
                    answer, extras = await finalize(answer)
                rec.status, rec.answer, rec.extras = "ok", answer, extras
                yield RunFinished(rec.id, rec.answer, totals, extras)
            finished = True
        finally:
            if not finished and rec.status == "running":
                rec.status, rec.error = "cancelled", "the caller went away before the run finished"
            totals = _totals(rec.stages, t0)
            rec.usage, rec.cost, rec.latency_ms = totals.usage, totals.cost, totals.latency_ms
            rec.finished_at = datetime.now(UTC)
            if self.store:
                await asyncio.shield(self.store.afinish_run(rec, started))

    # ---- planning -----------------------------------------------------------------------------------

    async def _route(self, question: str, wf: Workflow) -> tuple[dict[str, Any] | None, list[str]]:
        if self.route is None or not any(st.model == "routed" for st in wf.stages):
            return None, []
        info, candidates = await self.route(question)
        return info, [c for c in candidates if self.pool.is_available(self.pool.catalog.model(c))]

    def _members(self, stages: Sequence[StageSpec], rnd: int, rounds: int, state: _RunState) -> list[Member]:
        plan, slots = state.plan, state.slots
        out: list[Member] = []
        seq = len(state.record.stages) + 1
        for st in stages:
            if st.foreach:
                source = state.outputs.get(st.foreach) or []
                items = parse_items(source[0].text, st.max_items) if source else []
                items = items or [state.record.question]
                for i, item in enumerate(items):
                    slot = plan[st.id] + i
                    model = slots.get(slot) or slots[min(slots, key=lambda s: abs(s - slot))]
                    key = f"{st.id}_{i + 1}"
                    out.append(Member(key, st, rnd, seq, _candidates(st, model, state), item))
                    seq += 1
                continue
            for k in range(st.count):
                key = st.id if st.count == 1 else f"{st.id}_{k + 1}"
                if rounds > 1:
                    key = f"{key}_r{rnd}"
                out.append(Member(key, st, rnd, seq, _candidates(st, slots[plan[st.id] + k], state)))
                seq += 1
        return out

    # ---- execution -----------------------------------------------------------------------------------

    async def _concurrently(self, members: list[Member], state: _RunState, previous: dict[str, list[Output]],
                            results: dict[str, Output | None]) -> AsyncGenerator[RunEvent, None]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def one(m: Member) -> None:
            try:
                async with aclosing(self._member(m, state, previous, results)) as events:
                    async for ev in events:
                        queue.put_nowait(ev)
            finally:
                queue.put_nowait(_DONE)

        tasks = [asyncio.create_task(one(m)) for m in members]
        pending = len(tasks)
        try:
            while pending:
                ev = await queue.get()
                if ev is _DONE:
                    pending -= 1
                else:
                    yield ev
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in tasks:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]

    def _join(self, m: Member, state: _RunState) -> tuple[list[RunEvent], Output]:
        """A stage with no model call: the inputs joined under their headings."""
        out = _join_text(m, state)
        state.record.stages.append(StageRecord(seq=m.seq, stage=m.key, role=m.spec.role, model="coe/join",
                                               status="ok", prompt="", output=out, round=m.round))
        events: list[RunEvent] = [StageStarted(m.key, m.spec.role, "coe/join", m.round), Token(m.key, out),
                                  StageFinished(m.key, m.spec.role, "coe/join", out, Usage(), Cost(), 0.0)]
        return events, Output(ROLE_LABELS[state.lang].get(m.spec.role, m.spec.role), "coe/join", out)

    async def _prompt(self, m: Member, state: _RunState, previous: dict[str, list[Output]]) -> str:
        labels = ROLE_LABELS[state.lang]
        sections: list[str] = []
        for name in m.spec.inputs:
            if name in (QUESTION, "previous"):
                continue
            outs = state.outputs.get(name) or []
            for i, o in enumerate(outs, 1):
                n = f" {i}" if len(outs) > 1 else ""
                sections.append(f"### {o.label}{n}\n{o.text.strip()}")
        prev = ""
        if "previous" in m.spec.inputs and previous:
            prev_outs = [o for outs in previous.values() for o in outs]
            if prev_outs:
                prev = PREVIOUS_HEADER[state.lang] + "\n\n" + "\n\n".join(
                    f"### {labels.get('proposer', 'Answer')} {i}\n{o.text.strip()}" for i, o in enumerate(prev_outs, 1))
        base = str(self.pool.settings.file.workflows_dir or "")
        template = load_template(m.spec.prompt, state.lang, base)
        extra = await state.variables(m.spec, m.item) if state.variables else {}
        return render(template, {"passages": "", **m.spec.vars, **extra, "question": state.record.question,
                                 "context": "\n\n".join(sections), "previous": prev, "item": m.item or ""})

    async def _member(self, m: Member, state: _RunState, previous: dict[str, list[Output]],
                      results: dict[str, Output | None]) -> AsyncGenerator[RunEvent, None]:
        """One stage's events; its output (None when it failed) lands in ``results[m.key]``. A model that
        fails — before or after sending text — is recorded in the stage's ``attempts`` with what it sent, and
        the next candidate continues."""
        sp = m.spec
        results[m.key] = None
        if sp.kind == "join":  # no model call, so no prompt to render
            events, joined = self._join(m, state)
            for jev in events:
                yield jev
            results[m.key] = joined
            return
        prompt = await self._prompt(m, state, previous)
        cap = [t for t in (sp.max_tokens, state.max_tokens) if t]
        temperature = state.temperature if state.temperature is not None else sp.temperature
        request = ChatRequest(model=m.models[0], messages=(Message("user", prompt),),
                              max_tokens=min(cap) if cap else None, temperature=temperature, timeout_s=sp.timeout_s)
        model = m.models[0]
        key, role = m.key, sp.role
        attempts: list[dict[str, Any]] = []
        text: list[str] = []
        usage = Usage()
        t0 = time.perf_counter()
        yield StageStarted(key, role, model, m.round)
        try:
            async with aclosing(self.pool.stream(request, m.models[1:])) as stream:
                async for ev in stream:
                    kind = ev.kind
                    if kind == "text":
                        text.append(ev.text)  # type: ignore[union-attr]
                        yield Token(key, ev.text)  # type: ignore[union-attr]
                    elif kind == "reasoning":
                        yield Token(key, ev.text, reasoning=True)  # type: ignore[union-attr]
                    elif kind == "usage":
                        usage = ev.usage  # type: ignore[union-attr]
                    elif isinstance(ev, Fallback):
                        attempts.append({"model": ev.from_model, "error": ev.error, "partial": ev.partial,
                                         "latency_ms": round((time.perf_counter() - t0) * 1000, 1)})
                        yield StageFailed(key, role, ev.from_model, ev.error, ev.to_model, ev.partial)
                        model, text, usage = ev.to_model, [], Usage()
                        yield StageStarted(key, role, model, m.round)
        except (ProviderError, CoeError) as e:
            partial = getattr(e, "partial", "") or "".join(text)
            attempts.append({"model": model, "error": str(e), "partial": partial,
                             "latency_ms": round((time.perf_counter() - t0) * 1000, 1)})
            status = "skipped" if sp.optional else "failed"
            state.record.stages.append(StageRecord(
                seq=m.seq, stage=key, role=role, model=model, status=status, prompt=prompt,
                output="", round=m.round, error=str(e), attempts=attempts,
                latency_ms=(time.perf_counter() - t0) * 1000))
            yield StageFailed(key, role, model, str(e), None, partial, skipped=sp.optional)
            return
        latency = (time.perf_counter() - t0) * 1000
        out = "".join(text)
        cost = self.pool.catalog.model(model).cost(usage)
        state.record.stages.append(StageRecord(
            seq=m.seq, stage=key, role=role, model=model, status="ok", prompt=prompt, output=out,
            round=m.round, attempts=attempts, usage=usage, cost=cost, latency_ms=latency))
        label = ROLE_LABELS[state.lang].get(role, role)
        if m.item or sp.vars.get("task"):
            label = f"{ROLE_LABELS[state.lang]['sub']}: {m.item or sp.vars['task']}"
        results[m.key] = Output(label, model, out)
        yield StageFinished(key, role, model, out, usage, cost, latency)


def _collect(members: list[Member], specs: Sequence[StageSpec], state: _RunState,
             results: dict[str, Output | None]) -> None:
    """A step's outputs into the run state; a required stage without output fails the run."""
    for sp in specs:
        mine = [m for m in members if m.spec.id == sp.id]
        outs = [o for m in mine if (o := results.get(m.key)) is not None]
        state.outputs[sp.id] = outs
        if not outs and not sp.optional:
            state.failed_required.append(mine[0].key if mine else sp.id)


def _join_text(m: Member, state: _RunState) -> str:
    parts = []
    for name in m.spec.inputs:
        for o in state.outputs.get(name) or [] if name not in (QUESTION, "previous") else []:
            parts.append(f"### {o.label}\n\n{o.text.strip()}")
    return "\n\n".join(parts)


def _candidates(st: StageSpec, slot_model: str, state: _RunState) -> list[str]:
    """The stage's model first, then up to MAX_FALLBACKS others to fall back to."""
    if isinstance(st.model, tuple):
        first = list(st.model)
    elif st.model == "routed" and state.routed:
        first = list(state.routed)
    elif isinstance(st.model, str) and st.model != "routed":
        first = [st.model]
    else:
        first = [slot_model]
    extra = [m for m in state.extra if m not in first]
    return (first + extra)[: 1 + MAX_FALLBACKS] if len(first) == 1 else first[: 1 + MAX_FALLBACKS]


def _totals(stages: list[StageRecord], t0: float) -> Totals:
    usage, cost = Usage(), Cost()
    for s in stages:
        usage, cost = usage + s.usage, cost + s.cost
    return Totals(usage, cost, (time.perf_counter() - t0) * 1000, len(stages))


def _last_error(rec: RunRecord, key: str) -> str:
    for s in reversed(rec.stages):
        if s.stage == key and s.error:
            return s.error
    return "no output"
