"""Faults seen through `coe serve` (uvicorn on loopback, real fake upstreams): streamed and non-streamed
pass-through with a fallback, clear OpenAI-shaped errors without one, traces that keep every attempt, and no
tracebacks in the server's log."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from coe.providers.pool import ModelPool
from coe.server import create_app
from coe.store import open_store
from coe.testing import Behaviour, FakeUpstream
from tests.reliability.faultkit import GOOD_TEXT, HTTP, PLANTED_KEY, settings_for
from tests.server.conftest import serve

CUT = Behaviour("cut", text="abcdefgh", chunk_chars=2, cut_after_chunks=2)
BOUND_S = 3 * HTTP["timeout_s"] + 4


def chunks(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(ln[6:]) for ln in lines if ln.startswith("data: {")]


def content_of(objs: list[dict[str, object]]) -> str:
    out = []
    for o in objs:
        for ch in o.get("choices") or []:  # type: ignore[attr-defined]
            out.append(ch["delta"].get("content") or "")
    return "".join(out)


@pytest.fixture
def gateway(tmp_path: Path, caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """The server over ``bad/m`` (its upstream scripted per test) and ``good/m``."""
    caplog.set_level(logging.INFO)
    scripts: dict[str, list[Behaviour]] = {"m": [Behaviour()]}
    with FakeUpstream(models=scripts) as bad_up, FakeUpstream([Behaviour(text=GOOD_TEXT, chunk_chars=5)]) as good_up:
        settings = settings_for({"bad": bad_up.base_url, "good": good_up.base_url}, ["bad/m", "good/m"],
                                home=tmp_path / "home")
        store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
        app = create_app(settings, pool=ModelPool(settings), store=store, open_mode=True)
        with serve(app, store) as srv:
            yield srv, bad_up
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    assert any(r.getMessage() == "request" for r in records)  # the server's log is captured here
    tracebacks = [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    assert PLANTED_KEY not in caplog.text


def test_stream_cut_mid_answer_falls_back_and_the_trace_keeps_both(gateway) -> None:  # type: ignore[no-untyped-def]
    srv, bad_up = gateway
    bad_up.models["m"] = [CUT]
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{srv.url}/v1/chat/completions", timeout=BOUND_S, json={
            "model": "bad/m", "stream": True, "messages": [{"role": "user", "content": "q"}],
            "coe": {"fallbacks": ["good/m"]}}) as r:
        lines = [ln for ln in r.iter_lines() if ln]
    assert time.perf_counter() - t0 < BOUND_S
    assert lines[-1] == "data: [DONE]"
    objs = chunks(lines)
    events = [o["coe"]["event"] for o in objs if "event" in (o.get("coe") or {})]  # type: ignore[operator,index]
    assert events == ["run_started", "stage_started", "stage_failed", "stage_started", "stage_finished",
                      "run_finished"]
    text = content_of(objs)
    assert text.startswith("abcd") and text.endswith(GOOD_TEXT) and "bad/m failed mid-answer" in text
    done = objs[-1]["coe"]
    assert done["answer"] == GOOD_TEXT  # type: ignore[index]  # the clean answer, for clients that read it
    trace = httpx.get(f"{srv.url}/v1/coe/runs/{done['run_id']}").json()  # type: ignore[index]
    assert trace["status"] == "ok" and trace["answer"] == GOOD_TEXT
    (stage,) = trace["stages"]
    assert stage["model"] == "good/m" and stage["output"] == GOOD_TEXT
    assert stage["attempts"][0]["model"] == "bad/m" and stage["attempts"][0]["partial"] == "abcd"


def test_non_streamed_500_without_fallback_is_a_502_within_the_timeout(gateway) -> None:  # type: ignore[no-untyped-def]
    srv, bad_up = gateway
    bad_up.models["m"] = [Behaviour("status", status=500)]
    t0 = time.perf_counter()
    r = httpx.post(f"{srv.url}/v1/chat/completions", timeout=BOUND_S,
                   json={"model": "bad/m", "messages": [{"role": "user", "content": "q"}]})
    assert time.perf_counter() - t0 < BOUND_S
    assert r.status_code == 502
    err = r.json()["error"]
    assert "bad/m" in err["message"] and "HTTP 500" in err["message"] and err["type"] == "upstream_error"
    assert PLANTED_KEY not in r.text


def test_non_streamed_timeout_with_fallback_answers(gateway) -> None:  # type: ignore[no-untyped-def]
    srv, bad_up = gateway
    bad_up.models["m"] = [Behaviour("hang")]
    r = httpx.post(f"{srv.url}/v1/chat/completions", timeout=BOUND_S, json={
        "model": "bad/m", "messages": [{"role": "user", "content": "q"}], "coe": {"fallbacks": ["good/m"]}})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == GOOD_TEXT
    run = httpx.get(f"{srv.url}/v1/coe/runs/{r.json()['coe']['run_id']}").json()
    assert run["stages"][0]["attempts"][0]["model"] == "bad/m"
    assert "stopped sending" in run["stages"][0]["attempts"][0]["error"]


@pytest.mark.parametrize("behaviour", [Behaviour("hang"), Behaviour("garbage"), CUT,
                                       Behaviour("status", status=429, retry_after="3600")],
                         ids=["read_timeout", "garbage", "cut", "429"])
def test_streamed_failure_without_fallback_ends_with_an_error_event(gateway, behaviour: Behaviour) -> None:  # type: ignore[no-untyped-def]
    srv, bad_up = gateway
    bad_up.models["m"] = [behaviour]
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{srv.url}/v1/chat/completions", timeout=BOUND_S, json={
            "model": "bad/m", "stream": True, "messages": [{"role": "user", "content": "q"}]}) as r:
        lines = [ln for ln in r.iter_lines() if ln]
    assert time.perf_counter() - t0 < BOUND_S
    assert lines[-1] == "data: [DONE]"
    errors = [o["error"] for o in chunks(lines) if "error" in o]
    assert len(errors) == 1 and "bad/m" in errors[0]["message"]  # type: ignore[index]
    run_id = chunks(lines)[0]["coe"]["run_id"]  # type: ignore[index]
    trace = httpx.get(f"{srv.url}/v1/coe/runs/{run_id}").json()
    assert trace["status"] == "failed" and trace["stages"][0]["status"] == "failed"


def test_unknown_fallback_model_is_a_400(gateway) -> None:  # type: ignore[no-untyped-def]
    srv, _ = gateway
    r = httpx.post(f"{srv.url}/v1/chat/completions", json={
        "model": "bad/m", "messages": [{"role": "user", "content": "q"}], "coe": {"fallbacks": ["nope/x"]}})
    assert r.status_code == 404 and r.json()["error"]["param"] == "coe.fallbacks"
