"""Run a battle: 2–6 models answer the same prompt concurrently, one stage each, through the engine.

In anonymous mode the models are drawn at random and every event shows only their labels (Model A, B, …)
until the vote reveals them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from coe.arena.repo import LABELS, AnswerRecord, ArenaRepo, BattleRecord
from coe.errors import InputError
from coe.events import RunEvent, RunStarted, StageFailed, StageFinished, StageStarted, Token
from coe.providers.pool import ModelPool
from coe.router.service import RouterService
from coe.store.repo import Store
from coe.workflows.base import StageSpec, StepSpec, Workflow
from coe.workflows.engine import Engine

MIN_MODELS, MAX_MODELS, DEFAULT_MODELS = 2, 6, 3


@dataclass(frozen=True)
class BattleStarted:
    battle_id: str
    labels: tuple[str, ...]
    models: tuple[str, ...] | None  # None while anonymous
    category: str | None
    type: str = "battle_started"


@dataclass(frozen=True)
class BattleReady:
    battle: BattleRecord
    type: str = "battle_ready"


BattleEvent = BattleStarted | BattleReady | StageStarted | Token | StageFinished | StageFailed


def pick_models(pool: ModelPool, models: Sequence[str] | None, n: int, rng: random.Random) -> list[str]:
    if models:
        chosen = list(models)
        if len(set(chosen)) != len(chosen):
            raise InputError("a battle needs distinct models")
        for m in chosen:
            pool.provider(m)  # unknown id or missing key → one clear error
    else:
        avail = [m.id for m in pool.available()]
        if len(avail) < n:
            raise InputError(f"an anonymous battle of {n} needs {n} available models; {len(avail)} are available",
                             hint="set more vendor keys, or battle fewer models with --n")
        chosen = rng.sample(avail, n)
    if not MIN_MODELS <= len(chosen) <= MAX_MODELS:
        raise InputError(f"a battle has {MIN_MODELS}–{MAX_MODELS} models, not {len(chosen)}")
    return chosen


def battle_workflow(models: Sequence[str], max_tokens: int | None) -> Workflow:
    stages = tuple(StageSpec(id=f"model_{LABELS[i].lower()}", role="contestant", prompt="direct", model=m,
                             optional=True, max_tokens=max_tokens) for i, m in enumerate(models))
    panel = StageSpec(id="panel", role="panel", prompt="direct", inputs=("question", *[s.id for s in stages]),
                      kind="join")
    return Workflow(name="arena", description="side-by-side battle",
                    steps=(StepSpec(parallel=stages), StepSpec(parallel=(panel,))))


async def run_battle(prompt: str, *, pool: ModelPool, store: Store, models: Sequence[str] | None = None,
                     n: int = DEFAULT_MODELS, anonymous: bool | None = None, router: RouterService | None = None,
                     max_tokens: int | None = None, seed: int | None = None) -> AsyncIterator[BattleEvent]:
    if not prompt.strip():
        raise InputError("the prompt is empty")
    anonymous = not models if anonymous is None else anonymous
    if anonymous and models:
        raise InputError("choose models or anonymous, not both")
    chosen = pick_models(pool, models, n, random.Random(seed))
    category = None
    if router is not None:
        try:
            category = router.decide(prompt).category
        except InputError:
            category = None
    labels = tuple(f"Model {LABELS[i]}" for i in range(len(chosen)))
    mask = {m: labels[i] for i, m in enumerate(chosen)} if anonymous else {}
    battle = BattleRecord(id=uuid.uuid4().hex, prompt=prompt, models=chosen, anonymous=anonymous, category=category)
    yield BattleStarted(battle.id, labels, None if anonymous else tuple(chosen), category)
    answers: dict[str, AnswerRecord] = {}
    position = {f"model_{LABELS[i].lower()}": i for i in range(len(chosen))}
    engine = Engine(pool, store)
    async for ev in engine.run(prompt, workflow=battle_workflow(chosen, max_tokens), team=chosen, fallbacks=[]):
        if isinstance(ev, RunStarted):
            battle.run_id = ev.run_id
            continue
        stage = getattr(ev, "stage", None)
        if stage not in position:
            continue
        i = position[stage]
        if isinstance(ev, StageFinished):
            answers[stage] = AnswerRecord(i, chosen[i], ev.output, None, ev.usage.output_tokens, ev.latency_ms)
        elif isinstance(ev, StageFailed) and ev.fallback_to is None:
            answers[stage] = AnswerRecord(i, chosen[i], "", ev.error)
        yield _masked(ev, mask)
    battle.answers = [answers.get(k) or AnswerRecord(i, chosen[i], "", "no answer") for k, i in position.items()]
    ArenaRepo(store).save_battle(battle)
    yield BattleReady(battle)


def _masked(ev: RunEvent, mask: dict[str, str]) -> BattleEvent:
    if not mask or not hasattr(ev, "model"):
        return ev  # type: ignore[return-value]
    masked = replace(ev, model=mask.get(ev.model, "hidden"))  # type: ignore[type-var, arg-type]
    if isinstance(masked, StageFailed):  # errors name the model: hide it too
        for real, label in mask.items():
            masked = replace(masked, error=masked.error.replace(real, label))
    return masked  # type: ignore[return-value]
