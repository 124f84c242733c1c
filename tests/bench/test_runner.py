"""The runner on fake models: results stored per item, resume skips finished items, rate limits are waited
out, judge calls are counted, and the judge's agreement with itself under swapped positions is reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coe.bench.judge import lc_win_rate, outcome, parse_rating, parse_verdict, win_rate
from coe.bench.report import build, markdown
from coe.bench.runner import BenchConfig, BenchRunner, Progress
from coe.bench.store import BenchRepo
from coe.errors import InputError, RateLimitedError
from coe.providers.fake import FakeScript
from coe.store import open_store
from coe.store.repo import Store
from coe.types import ChatRequest
from tests.fakes import fake_pool


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'bench.db'}")


def _answer_math(req: ChatRequest) -> str:
    """A model that gets decimal items right (it reads the candidates) and answers 7 to everything else."""
    prompt = req.messages[-1].content
    m = re.search(r"pick the (largest|smallest) number of the following candidates: (.*)", prompt)
    if not m:
        return "I think the answer is 7.\nAnswer: 7"
    nums = [float(x.replace(",", "")) for x in m.group(2).split()]
    return f"Answer: {max(nums) if m.group(1) == 'largest' else min(nums)}"


async def test_objective_run_stores_scores_and_resumes_without_calls(store: Store) -> None:
    pool, providers = fake_pool({"fa/m": FakeScript([_answer_math]), "fb/m": FakeScript(["no idea"])},
                                models=("fa/m", "fb/m"))
    events: list[Progress] = []
    runner = BenchRunner(pool.settings, pool, store, on_progress=events.append)
    cfg = BenchConfig("objective", ["fa/m", "fb/m"], limit=8)
    run, resumed, _ = runner.prepare(cfg)
    assert not resumed and run.n_items == 8
    summary = await runner.run(cfg, run)
    assert summary.answered == 16 and summary.errors == 0
    rows = BenchRepo(store).results(run.id)
    assert len(rows) == 16 and all(r.status == "done" and r.trace_id for r in rows)
    fa_decimal = [r.score for r in rows if r.system == "fa/m" and r.category == "decimal"]
    assert fa_decimal and all(s == 1.0 for s in fa_decimal)
    assert all(r.score == 0.0 for r in rows if r.system == "fb/m")
    assert all(r.cost_usd > 0 and r.latency_ms > 0 and r.output_tokens > 0 for r in rows)
    assert events[-1].done == events[-1].total == 16
    calls = {m: len(p.calls) for m, p in providers.items()}
    assert calls == {"fa/m": 8, "fb/m": 8}

    again, resumed, _ = runner.prepare(cfg)  # same parameters → the same run, nothing redone
    assert resumed and again.id == run.id
    summary = await runner.run(cfg, again, resumed)
    assert summary.answered == 0 and summary.skipped == 16
    assert {m: len(p.calls) for m, p in providers.items()} == calls
    by_id, resumed, stored_cfg = runner.prepare(BenchConfig("math", []), run_id=run.id[:8])  # --resume ID
    assert by_id.id == run.id and resumed and stored_cfg.systems == ["fa/m", "fb/m"] and stored_cfg.limit == 8
    rep = build(BenchRepo(store).get(run.id), BenchRepo(store).results(run.id))
    fa = next(s for s in rep.systems if s.system == "fa/m")
    assert fa.accuracy["decimal"] == 1.0 and set(fa.accuracy) == {"math", "decimal", "code", "extraction"}
    assert "| fa/m |" in markdown(rep)


async def test_partial_run_resumes_only_missing_items(store: Store) -> None:
    pool, providers = fake_pool({"fa/m": FakeScript(["Answer: 1"])}, models=("fa/m",))
    runner = BenchRunner(pool.settings, pool, store)
    small = BenchConfig("decimal", ["fa/m"], limit=3)
    run, _, _ = runner.prepare(small)
    await runner.run(small, run)
    repo = BenchRepo(store)
    rows = repo.results(run.id)
    with store.session() as s, s.begin():  # simulate an interrupted run: one result never got stored
        from coe.store.tables import BenchResult
        s.query(BenchResult).filter(BenchResult.item_id == rows[-1].item_id).delete()
    before = len(providers["fa/m"].calls)
    summary = await runner.run(small, run, True)
    assert summary.answered == 1 and len(providers["fa/m"].calls) == before + 1
    assert len(repo.results(run.id)) == 3 and repo.get(run.id[:8]).status == "done"


async def test_rate_limits_are_waited_out_and_retried(store: Store) -> None:
    limited = RateLimitedError("fa/m", "HTTP 429 rate limited (slow down)")
    pool, providers = fake_pool({"fa/m": FakeScript([limited, limited, "Answer: 3"])}, models=("fa/m",))
    runner = BenchRunner(pool.settings, pool, store)
    cfg = BenchConfig("math", ["fa/m"], limit=1, backoff_s=0.01)
    run, _, _ = runner.prepare(cfg)
    summary = await runner.run(cfg, run)
    assert summary.rate_limit_waits == 2 and summary.errors == 0
    assert len(providers["fa/m"].calls) == 3
    assert BenchRepo(store).results(run.id)[0].status == "done"


async def test_errors_are_stored_and_retried_on_resume(store: Store) -> None:
    from coe.errors import UnavailableError

    pool, providers = fake_pool({"fa/m": FakeScript([UnavailableError("fa/m", "HTTP 503 down"), "Answer: 2"])},
                                models=("fa/m",))
    runner = BenchRunner(pool.settings, pool, store)
    cfg = BenchConfig("math", ["fa/m"], limit=1)
    run, _, _ = runner.prepare(cfg)
    summary = await runner.run(cfg, run)
    assert summary.errors == 1 and "503" in BenchRepo(store).results(run.id)[0].error  # type: ignore[operator]
    summary = await runner.run(cfg, run, True)
    assert summary.answered == 1 and summary.errors == 0 and len(providers["fa/m"].calls) == 2


def _consistent_judge(req: ChatRequest) -> str:
    """Prefers the answer that says GOOD, wherever it is shown; grades GOOD answers 9, others 4."""
    p = req.messages[-1].content
    if "[Answer of assistant A]" in p:
        a = p.split("[Answer of assistant A]", 1)[1].split("[End of answer A]", 1)[0]
        b = p.split("[Answer of assistant B]", 1)[1].split("[End of answer B]", 1)[0]
        return "A is better. [[A]]" if "GOOD" in a and "GOOD" not in b else \
            "B is better. [[B]]" if "GOOD" in b and "GOOD" not in a else "Tie. [[C]]"
    return "Fine.\nRating: [[9]]" if "GOOD" in p.split("[The assistant's answer]", 1)[1] else "Meh. Rating: [[4]]"


@pytest.mark.parametrize(("judge_reply", "agreement", "fb_win"), [
    (_consistent_judge, 1.0, 1.0),
    ("Answer A is better. [[A]] Rating: [[5]]", 0.0, 0.5),  # always the first position: inconsistent → ties
])
async def test_subjective_judge_pairwise_swap_and_cost(store: Store, judge_reply: object, agreement: float,
                                                       fb_win: float) -> None:
    scripts = {"fa/m": FakeScript(["a plain answer"]), "fb/m": FakeScript(["a GOOD answer, longer and better"]),
               "fc/m": FakeScript([judge_reply])}  # type: ignore[list-item]
    pool, providers = fake_pool(scripts, models=("fa/m", "fb/m", "fc/m"))
    runner = BenchRunner(pool.settings, pool, store)
    cfg = BenchConfig("subjective", ["fa/m", "fb/m"], limit=12, judge="fc/m")
    run, _, _ = runner.prepare(cfg)
    summary = await runner.run(cfg, run)
    assert summary.judged == 24 and summary.errors == 0
    rows = BenchRepo(store).results(run.id)
    assert all(r.status == "done" for r in rows)
    # baseline rows: one grading call; others: grading + two swapped pairwise calls
    assert sum(r.judge_calls for r in rows) == 12 * 1 + 12 * 3 == len(providers["fc/m"].calls)
    assert all(r.judge_cost_usd > 0 for r in rows)
    rep = build(BenchRepo(store).get(run.id), rows)
    fb = next(s for s in rep.systems if s.system == "fb/m")
    assert fb.agreement == agreement and fb.win_rate == fb_win and fb.pairs == 12
    assert len(fb.rating) == 12 and rep.judge["calls"] == 48 and rep.judge["cost_usd"] > 0
    assert rep.judge["swap_agreement"] == agreement
    text = markdown(rep)
    assert "agreement with itself under swapped positions" in text and "baseline" in text
    # resuming does not call the judge again
    n = len(providers["fc/m"].calls)
    await runner.run(cfg, run, True)
    assert len(providers["fc/m"].calls) == n


def test_prepare_rejects_bad_input(store: Store) -> None:
    pool, _ = fake_pool(models=("fa/m",))
    runner = BenchRunner(pool.settings, pool, store)
    with pytest.raises(InputError, match="unknown suite"):
        runner.prepare(BenchConfig("nope", ["fa/m"]))
    with pytest.raises(InputError, match="unknown system 'zz/q'"):
        runner.prepare(BenchConfig("math", ["zz/q"]))
    with pytest.raises(InputError, match="unknown system 'coe-nothing'"):
        runner.prepare(BenchConfig("math", ["coe-nothing"]))
    with pytest.raises(InputError, match="needs a judge"):
        runner.prepare(BenchConfig("subjective", ["fa/m"]))
    with pytest.raises(InputError, match="no benchmark run"):
        runner.prepare(BenchConfig("math", ["fa/m"]), run_id="feedbeef")


def test_judge_parsing_and_win_rates() -> None:
    assert parse_rating("ok\nRating: [[8]]") == 8 and parse_rating("评分：6") == 6 and parse_rating("7/10") == 7
    assert parse_rating("**Rating:** 3") == 3 and parse_rating("我给2分") == 2
    assert parse_rating("Rating: [[11]]") is None and parse_rating("no grade") is None
    assert parse_verdict("so [[B]]") == "B" and parse_verdict("Verdict: A") == "A" and parse_verdict("?") is None
    assert outcome("A", "B") == ("win", True) and outcome("B", "A") == ("loss", True)
    assert outcome("A", "A") == ("tie", False) and outcome("C", "C") == ("tie", True) and outcome(None, "A")[1] is False
    assert win_rate(["win", "tie", "loss", "win"]) == 0.625 and win_rate([]) is None
    # wins that come only from being longer are discounted by the length-controlled rate
    biased = lc_win_rate(["win"] * 8 + ["loss"] * 2, [400.0] * 8 + [-400.0] * 2)
    assert biased is not None and 0.5 <= biased < 0.8
    fair = lc_win_rate(["win", "loss"] * 5, [0.0] * 10)
    assert fair == pytest.approx(0.5, abs=1e-6)
