"""Bradley–Terry ratings: recovery of known strengths, interval coverage, ties, scale, interop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from coe.arena.ratings import BOTH_BAD, TIE, Vote, from_arena_rows, leaderboard, pairs_of, to_arena_rows

TRUE = np.array([1210.0, 1150, 1090, 1040, 990, 930, 870, 820])
TRUE = TRUE - TRUE.mean() + 1000
MODELS = [f"vendor{i}/m{i}" for i in range(8)]


def synthetic(seed: int, n: int = 5000) -> list[Vote]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i, j = rng.choice(8, 2, replace=False)
        p_i = 1 / (1 + 10 ** ((TRUE[j] - TRUE[i]) / 400))
        out.append(Vote((MODELS[i], MODELS[j]), 0 if rng.random() < p_i else 1))
    return out


def test_recovers_known_strengths_with_calibrated_intervals() -> None:
    covered, total = 0, 0
    for seed in range(6):
        lb = leaderboard(synthetic(seed), bootstrap=200, seed=seed)
        idx = [lb.models.index(m) for m in MODELS]
        rho = spearmanr(lb.ratings[idx], TRUE).statistic
        assert rho >= 0.95, (seed, rho)
        inside = (lb.lower[idx] <= TRUE) & (lb.upper[idx] >= TRUE)
        covered += int(inside.sum())
        total += len(TRUE)
        assert abs(lb.ratings.mean() - 1000) < 1e-6
    coverage = covered / total
    assert 0.85 <= coverage <= 1.0, coverage  # nominal 95%; 48 intervals, so some slack


def test_elo_scale_400_points_per_factor_of_ten() -> None:
    votes = [Vote(("a/x", "b/y"), 0)] * 1000 + [Vote(("a/x", "b/y"), 1)] * 100  # odds 10:1
    lb = leaderboard(votes, bootstrap=0)
    ra, rb = lb.ratings[lb.models.index("a/x")], lb.ratings[lb.models.index("b/y")]
    assert ra - rb == pytest.approx(400, abs=2)
    assert (ra + rb) / 2 == pytest.approx(1000)


def test_ties_are_half_wins_and_n_way_votes_decompose() -> None:
    assert pairs_of(Vote(("a", "b", "c"), 1)) == [
        pairs_of(Vote(("b", "a"), 0))[0], pairs_of(Vote(("b", "c"), 0))[0]]
    assert [p.score_a for p in pairs_of(Vote(("a", "b", "c"), TIE))] == [0.5, 0.5, 0.5]
    lb = leaderboard([Vote(("a/x", "b/y"), TIE)] * 50, bootstrap=0)
    assert lb.ratings[0] == pytest.approx(lb.ratings[1], abs=1e-3)
    assert lb.win_rates()["a/x"]["b/y"] == 0.5


def test_win_rate_matrix() -> None:
    lb = leaderboard([Vote(("a/x", "b/y"), 0)] * 3 + [Vote(("a/x", "b/y"), 1)], bootstrap=0)
    assert lb.win_rates() == {"a/x": {"b/y": 0.75}, "b/y": {"a/x": 0.25}}


def test_chatbot_arena_format_round_trip() -> None:
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a", "extra": 1},
            {"model_a": "b", "model_b": "c", "winner": "tie (bothbad)"},
            {"model_a": "c", "model_b": "a", "winner": "tie"}]
    votes = from_arena_rows(rows)
    assert [v.winner for v in votes] == [0, BOTH_BAD, TIE]
    back = [r for v in votes for r in to_arena_rows(v)]
    assert [(r["model_a"], r["model_b"], r["winner"]) for r in back] == [
        ("a", "b", "model_a"), ("b", "c", "tie (bothbad)"), ("c", "a", "tie")]
    three_way = to_arena_rows(Vote(("a", "b", "c"), 2))
    assert {(r["model_a"], r["winner"]) for r in three_way} == {("c", "model_a")}
    with pytest.raises(ValueError, match="row 1"):
        from_arena_rows([{"model_a": "a", "model_b": "a", "winner": "model_a"}])
    with pytest.raises(ValueError, match="winner"):
        from_arena_rows([{"model_a": "a", "model_b": "b", "winner": "nobody"}])


def test_needs_two_models() -> None:
    with pytest.raises(ValueError):
        leaderboard([])
    assert math.isfinite(leaderboard([Vote(("a", "b"), 0)], bootstrap=10).ratings[0])
