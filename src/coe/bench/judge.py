"""The LLM judge: single-answer 1-10 grading with a rubric, and pairwise comparison against a baseline with
the positions swapped (its agreement with itself is reported). Judge prompts are files (prompts/judge_*.md);
every judge call's cost is counted. Also the win-rate statistics, length-controlled included."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from coe.bench.prompts import fill
from coe.providers.pool import ModelPool
from coe.types import ChatRequest, Message

Outcome = Literal["win", "loss", "tie"]
JUDGE_MAX_TOKENS = 400
_RATING = (re.compile(r"\[\[\s*(\d{1,2}(?:\.\d+)?)\s*\]\]"),
           re.compile(r"(?:rating|score|grade|评分|分数|得分)\W{0,8}(\d{1,2}(?:\.\d+)?)", re.I),
           re.compile(r"\b(\d{1,2})\s*/\s*10\b"), re.compile(r"(\d{1,2})\s*分"))
_VERDICT = (re.compile(r"\[\[\s*([ABC])\s*\]\]"), re.compile(r"verdict\s*[:：]\s*\**\s*([ABC])\b", re.I))


@dataclass
class JudgeCall:
    text: str
    cost_usd: float
    input_tokens: int
    output_tokens: int


@dataclass
class Judgement:
    """What the judge said about one answer; ``calls`` and ``cost_usd`` include every judge call made."""

    rating: float | None = None
    pairwise: dict[str, Any] = field(default_factory=dict)  # verdicts, outcome, agreement
    calls: int = 0
    cost_usd: float = 0.0
    errors: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # what the judge wrote (cut), for inspection


def parse_rating(text: str) -> float | None:
    for pat in _RATING:
        hits = [float(h) for h in pat.findall(text) if 1 <= float(h) <= 10]
        if hits:
            return hits[-1]
    return None


def parse_verdict(text: str) -> str | None:
    for pat in _VERDICT:
        hits = pat.findall(text)
        if hits:
            return str(hits[-1]).upper()
    return None


def outcome(verdict_ab: str | None, verdict_ba: str | None) -> tuple[Outcome, bool]:
    """The system's outcome from two verdicts: (system=A, baseline=B) then swapped (baseline=A, system=B).
    Consistent verdicts decide; inconsistent (or unparsable) ones count as a tie. Returns (outcome, agreed)."""
    first = {"A": "win", "B": "loss", "C": "tie"}.get(verdict_ab or "")
    second = {"A": "loss", "B": "win", "C": "tie"}.get(verdict_ba or "")
    if first is None or second is None:
        return "tie", False
    if first == second:
        return first, True  # type: ignore[return-value]
    return "tie", False


class Judge:
    def __init__(self, pool: ModelPool, model: str) -> None:
        self.pool = pool
        self.model = model

    async def _call(self, prompt: str) -> JudgeCall:
        req = ChatRequest(model=self.model, messages=(Message("user", prompt),), max_tokens=JUDGE_MAX_TOKENS,
                          temperature=0.0)
        done = await self.pool.complete(req)
        return JudgeCall(done.text, done.cost.total_usd, done.usage.input_tokens, done.usage.output_tokens)

    async def grade(self, question: str, rubric: str, answer: str, into: Judgement) -> None:
        call = await self._call(fill("judge_single", question=question, rubric=rubric, answer=answer or "(empty)"))
        into.calls += 1
        into.cost_usd += call.cost_usd
        into.replies.append(call.text[-600:])
        into.rating = parse_rating(call.text)
        if into.rating is None:
            into.errors.append("no rating in the judge's reply")

    async def compare(self, question: str, rubric: str, answer: str, baseline: str, into: Judgement) -> None:
        """Two calls, positions swapped; the outcome is from ``answer``'s side."""
        verdicts: list[str | None] = []
        for a, b in ((answer, baseline), (baseline, answer)):
            call = await self._call(fill("judge_pairwise", question=question, rubric=rubric,
                                         answer_a=a or "(empty)", answer_b=b or "(empty)"))
            into.calls += 1
            into.cost_usd += call.cost_usd
            into.replies.append(call.text[-600:])
            verdicts.append(parse_verdict(call.text))
        result, agreed = outcome(verdicts[0], verdicts[1])
        into.pairwise = {"verdicts": verdicts, "outcome": result, "agreed": agreed,
                         "len_diff": len(answer) - len(baseline)}


# ---- statistics -------------------------------------------------------------------------------------------

WIN_VALUE = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def win_rate(outcomes: Sequence[str]) -> float | None:
    return sum(WIN_VALUE[o] for o in outcomes) / len(outcomes) if outcomes else None


def lc_win_rate(outcomes: Sequence[str], len_diffs: Sequence[float], l2: float = 0.1) -> float | None:
    """Length-controlled win rate (after AlpacaEval 2): fit P(win) = σ(θ + β·tanh(Δlen / sd)) by logistic
    regression (ties count half), then report σ(θ): the win rate had both answers been the same length."""
    if not outcomes:
        return None
    y = np.array([WIN_VALUE[o] for o in outcomes], dtype=float)
    d = np.array(len_diffs, dtype=float)
    sd = float(d.std()) or 1.0
    x = np.stack([np.ones_like(d), np.tanh(d / sd)], axis=1)
    w = np.zeros(2)
    for _ in range(50):  # Newton's method on the L2-regularised log-loss (convex: converges fast)
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + l2 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return 1.0 / (1.0 + math.exp(-float(w[0])))
