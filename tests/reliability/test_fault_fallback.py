"""Every fault class of a real upstream, through the real HTTP provider path (aiohttp, retries, timeouts, the
pool's fallback, the engine and the store) against real loopback servers: the run ends in a complete answer
from the fallback model, or — with no fallback — in a clear error within the configured timeout. Never a hang,
never a lost trace, never the key in an error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from coe.events import RunEvent, RunFailed, RunFinished, StageFailed, Token
from coe.orchestrator import run_request
from coe.providers.pool import ModelPool
from coe.store.repo import RunRecord, Store, open_store
from coe.testing import Behaviour, Blackhole, FakeUpstream, refused_url
from tests.reliability.faultkit import GOOD_TEXT, HTTP, PLANTED_KEY, settings_for

# fault → what the failing model's upstream does. Connect faults need their own address (a vendor of their own).
UPSTREAM_FAULTS: dict[str, Behaviour] = {
    "http_500": Behaviour("status", status=500),
    "http_503_retry_after": Behaviour("status", status=503, retry_after="0"),
    "http_429_retry_after": Behaviour("status", status=429, retry_after="0"),
    "http_429_retry_after_too_long": Behaviour("status", status=429, retry_after="3600"),
    "read_timeout_before_first_byte": Behaviour("hang"),
    "read_timeout_mid_stream": Behaviour("stall", text="abcdefgh", chunk_chars=2, cut_after_chunks=2),
    "stream_cut_mid_way": Behaviour("cut", text="abcdefgh", chunk_chars=2, cut_after_chunks=2),
    "garbage_sse": Behaviour("garbage", text="abcdefgh", chunk_chars=2),
    "slow_loris": Behaviour("slow_loris", loris_interval_s=0.2),
}
CONNECT_FAULTS = ("connect_timeout", "connection_refused")
ALL_FAULTS = [*UPSTREAM_FAULTS, *CONNECT_FAULTS]
PARTIAL = {"read_timeout_mid_stream": "abcd", "stream_cut_mid_way": "abcd"}
# The slowest fault resolves within http.timeout_s (2 s) per attempt plus backoff; allow a wide margin.
BOUND_S = 3 * HTTP["timeout_s"] + 4


@asynccontextmanager
async def world(fault: str, tmp_path: Path) -> AsyncIterator[tuple[ModelPool, Store, FakeUpstream]]:
    """A pool with ``bad/m`` (faulty) and ``good/m`` (healthy), a store, and the upstream."""
    behaviour = UPSTREAM_FAULTS.get(fault, Behaviour())
    async with FakeUpstream(models={"m": [behaviour]}) as bad_up, \
            FakeUpstream([Behaviour(text=GOOD_TEXT, chunk_chars=5)]) as good_up:
        with Blackhole() as hole:
            bad_url = {"connect_timeout": hole.base_url, "connection_refused": refused_url()}.get(fault,
                                                                                                  bad_up.base_url)
            settings = settings_for({"bad": bad_url, "good": good_up.base_url}, ["bad/m", "good/m"])
            pool = ModelPool(settings)
            store = open_store(f"sqlite:///{tmp_path / 'faults.db'}")
            try:
                yield pool, store, bad_up
            finally:
                await pool.aclose()
                store.close()


async def collect(gen: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [ev async for ev in gen]


async def run_with(pool: ModelPool, store: Store, fallbacks: list[str]) -> tuple[list[RunEvent], float]:
    t0 = time.perf_counter()
    gen = run_request("What is the answer?", "direct", pool=pool, store=store, settings=pool.settings,
                      team=["bad/m"], fallbacks=fallbacks)
    events = await asyncio.wait_for(collect(gen), BOUND_S)
    return events, time.perf_counter() - t0


def trace(store: Store, events: list[RunEvent]) -> RunRecord:
    run_id = next(ev for ev in events if hasattr(ev, "run_id")).run_id  # type: ignore[attr-defined]
    return store.get_run(run_id)


@pytest.mark.parametrize("fault", ALL_FAULTS)
async def test_fault_falls_back_to_a_complete_answer(fault: str, tmp_path: Path) -> None:
    async with world(fault, tmp_path) as (pool, store, _up):
        events, elapsed = await run_with(pool, store, ["good/m"])
    assert elapsed < BOUND_S
    finished = [ev for ev in events if isinstance(ev, RunFinished)]
    assert finished and finished[0].answer == GOOD_TEXT, events[-1]
    failed = [ev for ev in events if isinstance(ev, StageFailed)]
    assert len(failed) == 1 and failed[0].model == "bad/m" and failed[0].fallback_to == "good/m"
    assert PLANTED_KEY not in failed[0].error
    rec = trace(store, events)
    assert rec.status == "ok" and rec.answer == GOOD_TEXT
    (stage,) = rec.stages
    assert stage.model == "good/m" and stage.output == GOOD_TEXT and stage.status == "ok"
    (attempt,) = stage.attempts
    assert attempt["model"] == "bad/m" and attempt["error"] and PLANTED_KEY not in attempt["error"]
    if fault in PARTIAL:  # the model failed after sending text: the trace keeps both its text and the answer
        assert attempt["partial"] == PARTIAL[fault]
        tokens = "".join(ev.text for ev in events if isinstance(ev, Token))
        assert tokens == PARTIAL[fault] + GOOD_TEXT  # what was streamed, in order
        assert failed[0].partial == PARTIAL[fault]


@pytest.mark.parametrize("fault", ALL_FAULTS)
async def test_fault_without_fallback_is_a_clear_error_within_the_timeout(fault: str, tmp_path: Path) -> None:
    async with world(fault, tmp_path) as (pool, store, _up):
        events, elapsed = await run_with(pool, store, [])
    assert elapsed < BOUND_S
    failed = [ev for ev in events if isinstance(ev, RunFailed)]
    assert failed, events[-1]
    msg = failed[0].error
    assert "bad/m" in msg and " — " in msg  # names the model, then says what to do
    assert "Traceback" not in msg and PLANTED_KEY not in msg
    rec = trace(store, events)
    assert rec.status == "failed" and rec.error == msg
    assert rec.stages[0].status == "failed" and rec.stages[0].attempts[0]["model"] == "bad/m"
    if fault in PARTIAL:
        assert rec.stages[0].attempts[0]["partial"] == PARTIAL[fault]


async def test_retry_after_is_honoured_before_falling_back(tmp_path: Path) -> None:
    """429 with a short Retry-After is retried on the same model (and answers); a long one is not waited for."""
    async with FakeUpstream(models={"m": [Behaviour("status", status=429, retry_after="0.3"),
                                          Behaviour(text="second try")]}) as up:
        pool = ModelPool(settings_for({"bad": up.base_url}, ["bad/m"]))
        store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
        t0 = time.perf_counter()
        events = await asyncio.wait_for(collect(run_request(
            "q", "direct", pool=pool, store=store, settings=pool.settings, team=["bad/m"], fallbacks=[])), 10)
        await pool.aclose()
    assert time.perf_counter() - t0 >= 0.3  # waited as told
    assert isinstance(events[-1], RunFinished) and events[-1].answer == "second try"
    assert up.count("m") == 2


async def test_concurrent_faulty_streams_all_resolve(tmp_path: Path) -> None:
    """Many runs at once against a flaky model (every other request cut mid-stream): all end with the
    fallback's answer or the first model's, none hangs, every trace is stored."""
    flaky = [Behaviour("cut", text="abcdefgh", chunk_chars=2, cut_after_chunks=2), Behaviour(text="fine")] * 20
    async with FakeUpstream(models={"m": flaky}) as bad_up, FakeUpstream([Behaviour(text=GOOD_TEXT)]) as good_up:
        pool = ModelPool(settings_for({"bad": bad_up.base_url, "good": good_up.base_url}, ["bad/m", "good/m"]))
        store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
        results = await asyncio.wait_for(asyncio.gather(*[collect(run_request(
            f"q{i}", "direct", pool=pool, store=store, settings=pool.settings, team=["bad/m"],
            fallbacks=["good/m"])) for i in range(40)]), 30)
        await pool.aclose()
    answers = [ev.answer for evs in results for ev in evs if isinstance(ev, RunFinished)]
    assert len(answers) == 40 and set(answers) <= {"fine", GOOD_TEXT} and GOOD_TEXT in answers
    for evs in results:
        assert trace(store, evs).status == "ok"
