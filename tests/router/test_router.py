"""The router: accuracy on the held-out file, calibration, thresholds, bad input, decomposition, dispatch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from coe.config import FileConfig, RouterSettings, Settings
from coe.errors import InputError
from coe.events import RunFinished, RunStarted
from coe.providers.fake import FakeScript
from coe.router.classifier import Thresholds
from coe.router.data import builtin_path, load_jsonl
from coe.router.decompose import split_rules
from coe.router.dispatch import candidates
from coe.router.evaluate import evaluate
from coe.router.llm import LLMRouter
from coe.router.service import RouterService
from coe.workflows import Engine
from tests.conftest import real_home
from tests.fakes import fake_pool


@pytest.fixture(scope="module")
def service() -> RouterService:
    """The shipped router, trained once (./install.sh caches it under COE_HOME/router)."""
    return RouterService(Settings(home=real_home(), env={}))


def test_held_out_accuracy_is_at_least_90_percent(service: RouterService) -> None:
    train = {q for q, _ in load_jsonl(builtin_path("train.jsonl"))}
    held_out = load_jsonl(builtin_path("eval.jsonl"))
    assert not train & {q for q, _ in held_out}  # never trained on
    report = evaluate(service.router(), held_out)
    assert report["n"] == 240
    assert report["accuracy"] >= 0.90, report
    assert set(report["per_category"]) == {c for _, c in held_out}


@pytest.mark.parametrize(("query", "category"), [
    ("Write a Python function that merges two sorted lists", "code"),
    ("帮我写一段SQL,查询每个部门工资最高的员工", "code"),
    ("赏析一下李白的《静夜思》", "classical_chinese"),
    ("Translate 'good morning, how did you sleep?' into Japanese", "translation"),
    ("一个水池有两个进水管,甲管6小时注满,乙管3小时注满,两管同时开几小时注满?", "math"),
])
def test_routes_obvious_queries(service: RouterService, query: str, category: str) -> None:
    d = service.decide(query)
    assert d.category == category, d
    assert 0 < d.confidence <= 1 and abs(sum(d.scores.values()) - 1) < 1e-4


def test_low_confidence_goes_to_the_default(service: RouterService) -> None:
    strict = RouterService(Settings(FileConfig(router=RouterSettings(threshold=0.999, default_category="chitchat")),
                                    home=real_home(), env={}), embedder=service.embedder)
    d = strict.decide("qwzx plmk ??")
    assert d.category == "chitchat" and not d.confident


@pytest.mark.parametrize("junk", ["x" * 100_000, "\x00\x01\x02\xff binary \x7f", "🙂" * 50, "   ?   "])
def test_bad_input_gets_a_sane_route_quickly(service: RouterService, junk: str) -> None:
    t0 = time.perf_counter()
    d = service.decide(junk)
    assert d.category in service.router().classes  # type: ignore[attr-defined]
    assert time.perf_counter() - t0 < 5


def test_empty_query_is_an_input_error(service: RouterService) -> None:
    with pytest.raises(InputError, match="empty"):
        service.decide("  ")


async def test_multi_intent_query_is_split_single_is_not(service: RouterService) -> None:
    subs = await service.subtasks("把这段话翻译成英文,然后写个Python函数统计词频")
    assert [s.route.category for s in subs] == ["translation", "code"]
    assert await service.subtasks("今天晚饭吃什么比较健康?") == []
    assert split_rules("Translate this into French; then write a haiku about it") == [
        "Translate this into French", "write a haiku about it"]


def test_train_on_a_user_file(tmp_path: Path, service: RouterService) -> None:
    f = tmp_path / "mine.jsonl"
    rows = [("fix this segfault in my C code", "code"), ("why does my rust borrow checker complain", "code"),
            ("debug my javascript promise", "code"), ("what's a good soup for a cold day", "daily_life"),
            ("how do I remove a wine stain", "daily_life"), ("tips for packing light for travel", "daily_life")]
    f.write_text("\n".join(f'{{"query": "{q}", "category": "{c}"}}' for q, c in rows))
    svc = RouterService(Settings(home=tmp_path / "home", env={}), embedder=service.embedder)
    router = svc.train(f)
    assert router.classes == ["code", "daily_life"]
    assert svc.decide("my python script throws KeyError").category == "code"
    assert (tmp_path / "home" / "router" / "classifier.pkl").is_file()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x", "category": "code"}\n{"query": "y", "category": "cooking"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: unknown category 'cooking'"):
        svc.train(bad)


def test_dispatch_prefers_strength_then_cost_and_honours_pins() -> None:
    strengths = {"fa/m": ("math",), "fb/m": ("code",), "fc/m": ("chitchat",), "fd/m": ("chitchat",)}
    prices = {"fc/m": 30.0, "fd/m": 0.1}
    pool, _ = fake_pool(strengths=strengths, prices=prices)
    assert candidates(pool, "code")[0] == "fb/m"
    assert candidates(pool, "math")[0] == "fa/m"
    assert candidates(pool, "chitchat")[:2] == ["fd/m", "fc/m"]  # both good at it: the cheaper first
    pinned = Settings(FileConfig(router=RouterSettings(dispatch={"code": ["fc/m", "zz/unavailable"]})), env={})
    pool2, _ = fake_pool(strengths=strengths, settings=pinned)
    assert candidates(pool2, "code")[0] == "fc/m"


async def test_standard_mode_uses_the_route_and_the_trace_shows_it(service: RouterService, tmp_path: Path) -> None:
    from coe.store import open_store

    pool, provs = fake_pool({"fb/m": FakeScript(["def f(): pass"])},
                            strengths={"fa/m": ("writing",), "fb/m": ("code",)})
    svc = RouterService(Settings(home=real_home(), env={}), pool, embedder=service.embedder)
    svc._router = service.router()
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    events = [ev async for ev in Engine(pool, store, route=svc.route_fn).run(
        "Write a Python function that parses ISO dates", "standard")]
    assert isinstance(events[0], RunStarted) and events[0].route and events[0].route["category"] == "code"
    assert isinstance(events[-1], RunFinished) and provs["fb/m"].calls
    assert store.get_run(events[-1].run_id).route["category"] == "code"  # type: ignore[index]


async def test_llm_router_parses_a_category() -> None:
    pool, _ = fake_pool({"fa/m": FakeScript(["Category: math"])})
    d = await LLMRouter(pool, "fa/m").aroute("what is 7 * 8")
    assert d.category == "math" and d.confident
    pool2, _ = fake_pool({"fa/m": FakeScript(["no idea"])})
    d2 = await LLMRouter(pool2, "fa/m", "knowledge").aroute("???")
    assert d2.category == "knowledge" and not d2.confident


def test_thresholds_defaults() -> None:
    t = Thresholds()
    assert 0 < t.threshold < t.gate <= 1


async def test_auto_mode_splits_routes_each_part_and_joins(service: RouterService) -> None:
    from coe.orchestrator import run_request

    strengths = {"fa/m": ("translation",), "fb/m": ("code",)}
    pool, provs = fake_pool({"fa/m": FakeScript(["I love Beijing."]), "fb/m": FakeScript(["def freq(): ..."])},
                            models=("fa/m", "fb/m"), strengths=strengths)
    svc = RouterService(Settings(home=real_home(), env={}), pool, embedder=service.embedder)
    svc._router = service.router()
    events = [ev async for ev in run_request("把这句话翻译成英文:我爱北京。然后写个Python函数统计词频", "auto",
                                             pool=pool, store=None, settings=pool.settings, router=svc)]
    started = events[0]
    assert isinstance(started, RunStarted) and started.route is not None
    assert [s["category"] for s in started.route["subtasks"]] == ["translation", "code"]
    assert isinstance(events[-1], RunFinished)
    assert "统计词频" in provs["fb/m"].calls[0].messages[0].content
    merge_prompt = provs["fa/m"].calls[-1].messages[0].content  # remote models: a model merges the parts
    assert "I love Beijing." in merge_prompt and "def freq(): ..." in merge_prompt


async def test_join_merge_keeps_every_part() -> None:
    from coe.orchestrator import decomposed_workflow
    from coe.router.base import RouteDecision
    from coe.router.decompose import SubTask

    pool, _ = fake_pool({"fa/m": FakeScript(["part one"]), "fb/m": FakeScript(["part two"])})
    subs = [SubTask("translate it", RouteDecision("translation", 0.9)), SubTask("code it", RouteDecision("code", 0.9))]
    wf = decomposed_workflow(subs, [["fa/m"], ["fb/m"]], llm_merge=False)
    events = [ev async for ev in Engine(pool).run("q", workflow=wf)]
    done = events[-1]
    assert isinstance(done, RunFinished)
    assert "part one" in done.answer and "part two" in done.answer and "translate it" in done.answer
