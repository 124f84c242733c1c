"""Battles, votes, feedback and the closed loop, over fake models and a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from coe.arena.battles import BattleReady, BattleStarted, run_battle
from coe.arena.learn import learn_dispatch
from coe.arena.ratings import Vote
from coe.arena.repo import ArenaRepo
from coe.config import Settings
from coe.errors import InputError, UnavailableError
from coe.events import StageFailed, StageFinished, StageStarted
from coe.providers.fake import FakeScript
from coe.router.dispatch import candidates, load_learned, save_learned
from coe.store import open_store
from coe.store.repo import Store
from tests.fakes import fake_pool


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'arena.db'}")


async def battle(store: Store, latency: float = 0.0, **kw: object) -> tuple[list[object], ArenaRepo]:
    pool, _ = fake_pool({m: FakeScript([f"I am {m}"], latency_s=latency) for m in ("fa/m", "fb/m", "fc/m", "fd/m")})
    events = [ev async for ev in run_battle("Which is the tallest mountain?", pool=pool, store=store, **kw)]  # type: ignore[arg-type]
    return events, ArenaRepo(store)


async def test_anonymous_battle_hides_identities_until_the_vote(store: Store) -> None:
    events, repo = await battle(store, n=3, seed=7)
    started = events[0]
    assert isinstance(started, BattleStarted) and started.models is None
    assert started.labels == ("Model A", "Model B", "Model C")
    for ev in events:
        if isinstance(ev, (StageStarted, StageFinished)):
            assert ev.model.startswith("Model "), ev
    ready = events[-1]
    assert isinstance(ready, BattleReady)
    public = repo.get(ready.battle.id).public()
    assert public["models"] is None and all(a["model"] is None for a in public["answers"])  # type: ignore[union-attr]
    voted = repo.vote(ready.battle.id, "B", comment="clear")
    revealed = voted.public()
    assert revealed["models"] == ready.battle.models and revealed["winner"] == "1"
    assert len(set(ready.battle.models)) == 3


async def test_named_battle_and_concurrent_answers(store: Store) -> None:
    events, _ = await battle(store, latency=0.05, models=["fa/m", "fb/m"])
    assert isinstance(events[0], BattleStarted) and events[0].models == ("fa/m", "fb/m")
    ready = events[-1]
    assert isinstance(ready, BattleReady)
    assert [a.answer for a in sorted(ready.battle.answers, key=lambda a: a.position)] == ["I am fa/m", "I am fb/m"]
    starts = [e for e in events if isinstance(e, StageStarted)]
    finishes = [i for i, e in enumerate(events) if isinstance(e, StageFinished)]
    assert events.index(starts[1]) < finishes[0]  # both started before either finished


async def test_failed_contestant_is_recorded(store: Store) -> None:
    pool, _ = fake_pool({"fa/m": FakeScript(["fine"]), "fb/m": FakeScript([UnavailableError("fb/m", "down")])})
    events = [ev async for ev in run_battle("q", pool=pool, store=store, models=["fa/m", "fb/m"])]
    assert any(isinstance(e, StageFailed) for e in events)
    b = ArenaRepo(store).get(events[-1].battle.id)  # type: ignore[attr-defined]
    assert {a.model: a.error for a in b.answers}["fb/m"]


async def test_invalid_votes_are_clear_errors_and_write_nothing(store: Store) -> None:
    events, repo = await battle(store, models=["fa/m", "fb/m", "fc/m"])
    bid = events[-1].battle.id  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="no battle"):
        repo.vote("nope", 1)
    with pytest.raises(InputError, match="not a model in this battle"):
        repo.vote(bid, "fd/m")
    with pytest.raises(InputError, match="not a model in this battle"):
        repo.vote(bid, "7")
    assert repo.get(bid).winner is None and repo.votes() == []
    repo.vote(bid, "fc/m")
    with pytest.raises(InputError, match="already has a vote"):
        repo.vote(bid, "tie")
    assert repo.get(bid).winner == "2" and len(repo.votes()) == 1


async def test_per_voter_rate_limit(store: Store) -> None:
    repo = ArenaRepo(store, votes_per_min=2)
    ids = []
    for _ in range(3):
        events, _ = await battle(store, models=["fa/m", "fb/m"])
        ids.append(events[-1].battle.id)  # type: ignore[attr-defined]
    repo.vote(ids[0], 1, voter="eve")
    repo.vote(ids[1], 1, voter="eve")
    with pytest.raises(InputError, match="too many votes"):
        repo.vote(ids[2], 1, voter="eve")
    repo.vote(ids[2], 1, voter="bob")


async def test_feedback_lists_losers_and_all_bad(store: Store) -> None:
    e1, repo = await battle(store, models=["fa/m", "fb/m"])
    e2, _ = await battle(store, models=["fa/m", "fc/m"])
    repo.vote(e1[-1].battle.id, "fb/m", comment="fa was vague")  # type: ignore[attr-defined]
    repo.vote(e2[-1].battle.id, "bad")  # type: ignore[attr-defined]
    cases = repo.bad_cases(vendor="fa")
    assert {c["vote"] for c in cases} == {"lost to fb/m", "all bad"}
    assert all(c["model"] == "fa/m" and c["answer"] == "I am fa/m" and c["prompt"] for c in cases)
    assert [c["comment"] for c in cases if c["vote"] != "all bad"] == ["fa was vague"]


def test_import_is_all_or_nothing(store: Store) -> None:
    repo = ArenaRepo(store)
    assert repo.import_votes([Vote(("a/x", "b/y"), 0, "code")] * 3) == 3
    assert len(repo.votes("code")) == 3


def test_learn_from_arena_updates_dispatch(tmp_path: Path) -> None:
    votes = [Vote(("fb/m", "fa/m"), 0, "code")] * 40 + [Vote(("fb/m", "fa/m"), 1, "code")] * 5
    votes += [Vote(("fa/m", "fc/m"), 0, "chitchat")] * 6 + [Vote(("fa/m", "fc/m"), 1, "chitchat")] * 5
    table, details = learn_dispatch(votes, min_battles=20, bootstrap=100)
    assert table == {"code": ["fb/m", "fa/m"]}
    assert details["chitchat"]["learned"] is False and "needed" in details["chitchat"]["reason"]
    settings = Settings(home=tmp_path, env={})
    save_learned(tmp_path, table, details)
    assert load_learned(tmp_path) == table
    pool, _ = fake_pool(settings=settings, strengths={"fa/m": ("code",)})
    assert candidates(pool, "code")[0] == "fb/m"  # people preferred fb/m for code, over the catalog's pick
