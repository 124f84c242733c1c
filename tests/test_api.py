"""The Python API: coe.ask / coe.run over fake models."""

from __future__ import annotations

from pathlib import Path

import pytest

import coe
from coe.errors import CoeError, InputError, UnavailableError
from coe.events import RunFinished, RunStarted
from coe.providers.fake import FakeScript
from coe.store import open_store
from tests.fakes import fake_pool


async def test_ask_returns_answer_stages_and_totals(tmp_path: Path) -> None:
    pool, _ = fake_pool({"fa/m": FakeScript(["final"]), "fb/m": FakeScript(["draft"]), "fc/m": FakeScript(["ok"])})
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    res = await coe.ask("q?", mode="collaborate", team=["fb/m", "fc/m", "fa/m"], pool=pool, store=store)
    assert res.answer == "final" and res.model == "fa/m" and res.mode == "collaborate"
    assert [(s.role, s.model, s.status) for s in res.stages] == [
        ("expert", "fb/m", "ok"), ("reflector", "fc/m", "ok"), ("summarizer", "fa/m", "ok")]
    assert res.totals.stages == 3 and res.totals.usage.total_tokens > 0
    assert store.get_run(res.run_id).answer == "final"


async def test_run_yields_typed_events() -> None:
    pool, _ = fake_pool({"fa/m": FakeScript(["hi"])})
    events = [ev async for ev in coe.run("hello", team=["fa/m"], pool=pool, store=False)]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "x" * 200_001])
async def test_bad_questions_are_input_errors(bad: str) -> None:
    pool, _ = fake_pool()
    with pytest.raises(InputError):
        await coe.ask(bad, pool=pool, store=False)


async def test_failed_run_raises_one_coe_error() -> None:
    pool, _ = fake_pool({"fa/m": FakeScript([UnavailableError("fa/m", "HTTP 503 injected")])})
    with pytest.raises(CoeError, match="503"):
        await coe.ask("q", model="fa/m", pool=pool, store=False)
