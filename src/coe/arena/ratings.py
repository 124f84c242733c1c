"""Bradley–Terry ratings from votes. Pure numpy/scipy: no I/O.

Each N-way vote becomes pairwise outcomes (the best answer beats each other one; a tie or "all bad" is a
half-win for every pair). Ratings are maximum-likelihood strengths on an Elo-like scale: mean 1000, 400 points
per factor of 10 in odds. Bootstrap over votes gives 95% intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

BASE = 1000.0
SCALE = 400.0 / math.log(10)  # natural-log odds → Elo points
TIE = "tie"
BOTH_BAD = "tie (bothbad)"


@dataclass(frozen=True)
class Vote:
    """One battle's outcome. ``winner`` is an index into ``models``, ``"tie"`` or ``"tie (bothbad)"``."""

    models: tuple[str, ...]
    winner: int | str
    category: str | None = None


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score_a: float  # 1 = a won, 0 = b won, 0.5 = tie


def pairs_of(vote: Vote) -> list[Pair]:
    m = vote.models
    if isinstance(vote.winner, int):
        w = m[vote.winner]
        return [Pair(w, o, 1.0) for i, o in enumerate(m) if i != vote.winner]
    return [Pair(m[i], m[j], 0.5) for i in range(len(m)) for j in range(i + 1, len(m))]


@dataclass
class Leaderboard:
    models: list[str]
    ratings: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    battles: dict[str, int]
    win_rate: np.ndarray  # win_rate[i, j]: share of i-vs-j comparisons i won (ties count half); nan if none
    extra: dict[str, object] = field(default_factory=dict)

    def rows(self) -> list[dict[str, object]]:
        order = np.argsort(-self.ratings)
        return [{"rank": r + 1, "model": self.models[i], "rating": round(float(self.ratings[i]), 1),
                 "lower": round(float(self.lower[i]), 1), "upper": round(float(self.upper[i]), 1),
                 "battles": self.battles[self.models[i]]} for r, i in enumerate(order)]

    def win_rates(self) -> dict[str, dict[str, float | None]]:
        return {a: {b: (None if np.isnan(self.win_rate[i, j]) else round(float(self.win_rate[i, j]), 4))
                    for j, b in enumerate(self.models) if j != i} for i, a in enumerate(self.models)}


def _aggregate(pairs: Sequence[Pair], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.array([index[p.a] for p in pairs], dtype=np.int64)
    b = np.array([index[p.b] for p in pairs], dtype=np.int64)
    s = np.array([p.score_a for p in pairs], dtype=np.float64)
    return a, b, s


def fit(a: np.ndarray, b: np.ndarray, s: np.ndarray, n: int, weights: np.ndarray | None = None,
        l2: float = 1e-4) -> np.ndarray:
    """Log-strengths (mean 0) maximizing the Bradley–Terry likelihood of outcomes ``s`` for pairs (a, b)."""
    w = np.ones_like(s) if weights is None else weights

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[a] - theta[b]
        p = 1.0 / (1.0 + np.exp(-d))
        eps = 1e-12
        loss = -np.sum(w * (s * np.log(p + eps) + (1 - s) * np.log(1 - p + eps))) + l2 * np.sum(theta**2)
        g_d = w * (p - s)
        grad = np.bincount(a, g_d, minlength=n) - np.bincount(b, g_d, minlength=n) + 2 * l2 * theta
        return float(loss), grad

    from scipy.optimize import minimize  # on use: scipy is heavy for processes that never rate

    res = minimize(nll, np.zeros(n), jac=True, method="L-BFGS-B")
    theta: np.ndarray = res.x - res.x.mean()
    return theta


def leaderboard(votes: Sequence[Vote], *, bootstrap: int = 200, seed: int = 0) -> Leaderboard:
    """Ratings, 95% bootstrap intervals (resampling votes), battle counts and the win-rate matrix."""
    models = sorted({m for v in votes for m in v.models})
    if len(models) < 2:
        raise ValueError("a leaderboard needs votes between at least two models")
    index = {m: i for i, m in enumerate(models)}
    n = len(models)
    per_vote = [pairs_of(v) for v in votes]
    flat = [p for ps in per_vote for p in ps]
    owner = np.repeat(np.arange(len(votes)), [len(ps) for ps in per_vote])
    a, b, s = _aggregate(flat, index)
    theta = fit(a, b, s, n)
    rng = np.random.default_rng(seed)
    samples = np.empty((bootstrap, n))
    for k in range(bootstrap):
        counts = np.bincount(rng.integers(0, len(votes), len(votes)), minlength=len(votes))
        samples[k] = fit(a, b, s, n, weights=counts[owner].astype(np.float64))
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=0) if bootstrap else (theta, theta)
    battles = {m: 0 for m in models}
    for v in votes:
        for m in set(v.models):
            battles[m] += 1
    wins = np.zeros((n, n))
    games = np.zeros((n, n))
    np.add.at(wins, (a, b), s)
    np.add.at(wins, (b, a), 1 - s)
    np.add.at(games, (a, b), 1)
    np.add.at(games, (b, a), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / games, np.nan)
    return Leaderboard(models, BASE + SCALE * theta, BASE + SCALE * lo, BASE + SCALE * hi, battles, rate)


def from_arena_rows(rows: Sequence[dict[str, object]]) -> list[Vote]:
    """Chatbot Arena JSONL rows ``{"model_a", "model_b", "winner"}`` as votes (bad rows raise ValueError)."""
    out = []
    for i, r in enumerate(rows, 1):
        a, b, w = r.get("model_a"), r.get("model_b"), r.get("winner")
        if not isinstance(a, str) or not isinstance(b, str) or not a or not b or a == b:
            raise ValueError(f"row {i}: needs two different model names in model_a and model_b")
        winner: int | str
        if w == "model_a":
            winner = 0
        elif w == "model_b":
            winner = 1
        elif w in (TIE, BOTH_BAD):
            winner = str(w)
        else:
            raise ValueError(f"row {i}: winner must be model_a, model_b, tie or 'tie (bothbad)'")
        cat = r.get("category")
        out.append(Vote((a, b), winner, cat if isinstance(cat, str) else None))
    return out


def to_arena_rows(vote: Vote) -> list[dict[str, str]]:
    """A vote as Chatbot Arena pairwise rows (an N-way vote becomes its pairs)."""
    rows = []
    for p in pairs_of(vote):
        winner = "model_a" if p.score_a == 1.0 else ("model_b" if p.score_a == 0.0 else
                                                       (BOTH_BAD if vote.winner == BOTH_BAD else TIE))
        row = {"model_a": p.a, "model_b": p.b, "winner": winner}
        if vote.category:
            row["category"] = vote.category
        rows.append(row)
    return rows
