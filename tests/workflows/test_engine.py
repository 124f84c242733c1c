"""The collaboration engine on fake models: stages, parallel groups, fallbacks, skips, cancellation, traces."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coe.errors import UnavailableError, WorkflowError
from coe.events import RunFailed, RunFinished, RunStarted, StageFailed, StageFinished, StageStarted, Token
from coe.providers.fake import FakeScript
from coe.store import open_store
from coe.store.repo import Store
from coe.types import ChatRequest
from coe.workflows import Engine
from coe.workflows.base import parse_workflow
from tests.fakes import fake_pool


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'runs.db'}")


def fail(model: str) -> UnavailableError:
    return UnavailableError(model, "HTTP 503 injected")


async def collect(engine: Engine, question: str, mode: str, **kw: object) -> list[object]:
    return [ev async for ev in engine.run(question, mode, **kw)]  # type: ignore[arg-type]


async def test_collaborate_runs_three_roles_on_three_models(store: Store) -> None:
    pool, provs = fake_pool({"fa/m": FakeScript(["final answer"]), "fb/m": FakeScript(["draft 42"]),
                             "fc/m": FakeScript(["critique: check units"])})
    events = await collect(Engine(pool, store), "How many?", "collaborate", team=["fb/m", "fc/m", "fa/m"])
    started = [e for e in events if isinstance(e, StageStarted)]
    assert [(e.stage, e.role, e.model) for e in started] == [
        ("expert", "expert", "fb/m"), ("reflector", "reflector", "fc/m"), ("summarizer", "summarizer", "fa/m")]
    assert isinstance(events[0], RunStarted) and events[0].final == "summarizer"
    done = events[-1]
    assert isinstance(done, RunFinished) and done.answer == "final answer"
    assert done.totals.stages == 3 and done.totals.cost.total_usd > 0
    # the reflector saw the expert's draft; the summarizer saw both
    assert "draft 42" in provs["fc/m"].calls[0].messages[0].content
    summ_prompt = provs["fa/m"].calls[0].messages[0].content
    assert "draft 42" in summ_prompt and "critique: check units" in summ_prompt
    trace = store.get_run(done.run_id)
    assert trace.status == "ok" and trace.answer == "final answer"
    assert [s.stage for s in sorted(trace.stages, key=lambda s: s.seq)] == ["expert", "reflector", "summarizer"]
    assert all(s.prompt and s.output for s in trace.stages)


async def test_tokens_stream_per_stage_before_it_finishes() -> None:
    pool, _ = fake_pool({m: FakeScript(["abcdefgh"], chunk_chars=2) for m in ("fa/m", "fb/m", "fc/m")})
    events = await collect(Engine(pool), "q", "collaborate")
    expert_events = [e for e in events if getattr(e, "stage", None) == "expert"]
    kinds = [type(e).__name__ for e in expert_events]
    assert kinds == ["StageStarted", "Token", "Token", "Token", "Token", "StageFinished"]


async def test_parallel_experts_overlap_in_time() -> None:
    windows: dict[str, list[float]] = {}

    def timed(name: str) -> FakeScript:
        def reply(req: ChatRequest) -> str:
            windows.setdefault(name, []).append(asyncio.get_running_loop().time())
            return "x"
        return FakeScript([reply], latency_s=0.2)

    pool, _ = fake_pool({m: timed(m) for m in ("fa/m", "fb/m", "fc/m", "fd/m")})
    events = await collect(Engine(pool), "q", "collaborate-5", team=["fa/m", "fb/m", "fc/m", "fd/m", "fa/m"])
    finished = [e for e in events if isinstance(e, StageFinished)]
    assert len(finished) == 5
    # both experts started before either finished: the group ran concurrently
    order = [(type(e).__name__, e.stage) for e in events if isinstance(e, (StageStarted, StageFinished))]
    assert order[:2] == [("StageStarted", "expert_a"), ("StageStarted", "expert_b")]


async def test_failed_model_falls_back_and_trace_keeps_both(store: Store) -> None:
    pool, _ = fake_pool({"fa/m": FakeScript([fail("fa/m")], fail_after_chars=7, partial_text="half an answer"),
                         "fb/m": FakeScript(["rescued"])})
    events = await collect(Engine(pool, store), "q", "direct", team=["fa/m"], fallbacks=["fb/m"])
    failed = [e for e in events if isinstance(e, StageFailed)]
    assert len(failed) == 1 and failed[0].model == "fa/m" and failed[0].fallback_to == "fb/m"
    assert failed[0].partial == "half an"
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "rescued"
    stage = store.get_run(events[-1].run_id).stages[0]
    assert stage.model == "fb/m" and stage.output == "rescued"
    assert stage.attempts[0]["model"] == "fa/m" and stage.attempts[0]["partial"] == "half an"


async def test_failed_reflector_is_skipped_and_summarizer_runs(store: Store) -> None:
    pool, provs = fake_pool({"fa/m": FakeScript(["draft"]), "fb/m": FakeScript([fail("fb/m")]),
                             "fc/m": FakeScript(["final"])})
    events = await collect(Engine(pool, store), "q", "collaborate", team=["fa/m", "fb/m", "fc/m"])
    skipped = [e for e in events if isinstance(e, StageFailed) and e.skipped]
    assert [e.stage for e in skipped] == ["reflector"]
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "final"
    assert "draft" in provs["fc/m"].calls[0].messages[0].content
    trace = store.get_run(events[-1].run_id)
    assert {s.stage: s.status for s in trace.stages} == {"expert": "ok", "reflector": "skipped", "summarizer": "ok"}
    assert "503" in (next(s for s in trace.stages if s.stage == "reflector").error or "")


async def test_failed_required_stage_fails_the_run(store: Store) -> None:
    pool, provs = fake_pool({"fa/m": FakeScript([fail("fa/m")])})
    events = await collect(Engine(pool, store), "q", "collaborate", team=["fa/m", "fb/m", "fc/m"])
    assert isinstance(events[-1], RunFailed) and "expert" in events[-1].error and "503" in events[-1].error
    assert not provs["fc/m"].calls  # nothing after the failed expert ran
    assert store.get_run(events[-1].run_id).status == "failed"


async def test_closing_the_stream_cancels_the_run(store: Store) -> None:
    pool, _ = fake_pool({"fa/m": FakeScript(["a" * 400], chunk_chars=1, token_delay_s=0.01)})
    gen = Engine(pool, store).run("q", "direct", team=["fa/m"])
    run_id = ""
    async for ev in gen:
        if isinstance(ev, RunStarted):
            run_id = ev.run_id
        if isinstance(ev, Token):
            break
    await gen.aclose()
    assert store.get_run(run_id).status == "cancelled"


async def test_deep_plans_answers_each_subquestion_and_synthesizes() -> None:
    plan = "1. What is A?\n2. What is B?\n3. What is C?"
    pool, provs = fake_pool({"fa/m": FakeScript([plan, "sub", "sub", "sub", "synthesis"])})
    events = await collect(Engine(pool), "Explain ABC", "deep", team=["fa/m"])
    stages = [e.stage for e in events if isinstance(e, StageFinished)]
    assert stages[0] == "plan" and sorted(stages[1:4]) == ["sub_1", "sub_2", "sub_3"] and stages[4] == "synthesis"
    prompts = [c.messages[0].content for c in provs["fa/m"].calls]
    assert any("What is B?" in p for p in prompts[1:4])
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "synthesis"


async def test_moa_layers_see_the_previous_layer() -> None:
    pool, provs = fake_pool({m: FakeScript([f"proposal from {m}"]) for m in ("fa/m", "fb/m", "fc/m", "fd/m")})
    events = await collect(Engine(pool), "q", "moa", team=["fa/m", "fb/m", "fc/m", "fd/m"])
    finished = [e.stage for e in events if isinstance(e, StageFinished)]
    assert len(finished) == 7 and finished[-1] == "aggregator"
    prompts = [c.messages[0].content for p in provs.values() for c in p.calls]
    round2 = [p for p in prompts if "proposal from" in p]
    assert len(round2) >= 3  # round-2 proposers and the aggregator saw round-1 proposals


async def test_embedded_like_pool_rotates_over_two_models() -> None:
    pool, _ = fake_pool(models=("fa/m", "fb/m"))
    events = await collect(Engine(pool), "一个半小时是几个半小时?", "collaborate")
    models = {e.model for e in events if isinstance(e, StageFinished)}
    assert len(models) == 2


async def test_unknown_team_model_fails_before_running() -> None:
    pool, provs = fake_pool()
    with pytest.raises(Exception, match="unknown model 'zz/none'"):
        await collect(Engine(pool), "q", "direct", team=["zz/none"])
    assert not any(p.calls for p in provs.values())


def test_invalid_workflow_names_file_and_field() -> None:
    with pytest.raises(WorkflowError, match=r"my\.yaml: field 'steps.0.parallel.0.max_tokens'"):
        parse_workflow("name: x\nsteps:\n  - {id: a, role: r, prompt: p, max_tokens: -1}\n", "my.yaml")
    with pytest.raises(WorkflowError, match="'nope' is not an earlier stage"):
        parse_workflow("name: x\nsteps:\n  - {id: a, role: r, prompt: p, inputs: [nope]}\n", "my.yaml")
    with pytest.raises(WorkflowError, match="unknown key"):
        parse_workflow("name: x\nsteps:\n  - {id: a, role: r, prompt: p, colour: red}\n", "my.yaml")
    with pytest.raises(WorkflowError, match="not valid YAML"):
        parse_workflow("name: [x\n", "my.yaml")


async def test_user_workflow_from_config_dir(tmp_path: Path) -> None:
    from coe.config import FileConfig, Settings

    (tmp_path / "pirate.yaml").write_text("name: pirate\nsteps:\n  - {id: a, role: answerer, prompt: p.md}\n")
    (tmp_path / "p.md").write_text("Answer like a pirate: {question}")
    settings = Settings(FileConfig(workflows_dir=str(tmp_path)), env={})
    pool, provs = fake_pool({"fa/m": FakeScript(["arr"])}, settings=settings)
    events = await collect(Engine(pool), "hello", "pirate", team=["fa/m"])
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "arr"
    assert provs["fa/m"].calls[0].messages[0].content == "Answer like a pirate: hello"
    with pytest.raises(WorkflowError, match="unknown mode 'nope'"):
        await collect(Engine(pool), "hello", "nope")
