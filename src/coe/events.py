"""The run event stream (DESIGN.md §3). The CLI, the server and the UI all render these.

``run_started`` → (``stage_started`` → ``token``* → ``stage_finished`` | ``stage_failed``)* →
``run_finished`` | ``run_failed``. Parallel stages interleave; every stage event carries its stage id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from coe.types import Cost, Usage


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    mode: str
    question: str
    route: dict[str, Any] | None = None
    team: tuple[str, ...] = ()
    final: str = ""  # the stage whose output is the answer
    type: Literal["run_started"] = "run_started"


@dataclass(frozen=True, slots=True)
class StageStarted:
    stage: str
    role: str
    model: str
    round: int = 1
    type: Literal["stage_started"] = "stage_started"


@dataclass(frozen=True, slots=True)
class Token:
    stage: str
    text: str
    reasoning: bool = False
    type: Literal["token"] = "token"


@dataclass(frozen=True, slots=True)
class StageFinished:
    stage: str
    role: str
    model: str
    output: str
    usage: Usage
    cost: Cost
    latency_ms: float
    type: Literal["stage_finished"] = "stage_finished"


@dataclass(frozen=True, slots=True)
class StageFailed:
    """``fallback_to`` is the next model tried, or None when the stage gave up (then ``skipped`` says
    whether the run goes on without it)."""

    stage: str
    role: str
    model: str
    error: str
    fallback_to: str | None
    partial: str = ""
    skipped: bool = False
    type: Literal["stage_failed"] = "stage_failed"


@dataclass(frozen=True, slots=True)
class Totals:
    usage: Usage = field(default_factory=Usage)
    cost: Cost = field(default_factory=Cost)
    latency_ms: float = 0.0
    stages: int = 0


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    answer: str
    totals: Totals
    extras: dict[str, Any] = field(default_factory=dict)  # references, follow-ups, retrieval details
    type: Literal["run_finished"] = "run_finished"


@dataclass(frozen=True, slots=True)
class RunFailed:
    run_id: str
    error: str
    totals: Totals
    type: Literal["run_failed"] = "run_failed"


RunEvent = RunStarted | StageStarted | Token | StageFinished | StageFailed | RunFinished | RunFailed


def event_dict(ev: RunEvent) -> dict[str, Any]:
    """JSON-ready form of an event (usage/cost flattened with totals)."""
    d = asdict(ev)
    for key in ("usage", "cost"):
        if key in d:
            d[key] = _flat(d[key])
    if "totals" in d:
        d["totals"] = {**d["totals"], "usage": _flat(d["totals"]["usage"]), "cost": _flat(d["totals"]["cost"])}
    return d


def _flat(v: dict[str, Any]) -> dict[str, Any]:
    if "input_usd" in v:
        return {**v, "total_usd": v["input_usd"] + v["output_usd"]}
    return {**v, "total_tokens": v["input_tokens"] + v["output_tokens"]}
