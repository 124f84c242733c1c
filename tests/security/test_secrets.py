"""A planted vendor key (and a client's CoE key) never appears in logs, traces, error bodies, reprs or
`coe doctor` output — even when the upstream echoes the key back in its error messages."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coe.providers.pool import ModelPool
from coe.server import create_app
from coe.server.logs import JsonFormatter
from coe.store import open_store
from coe.store.keys import KeyRepo
from coe.testing import Behaviour, FakeUpstream
from coe.types import ChatRequest
from tests.reliability.faultkit import PLANTED_KEY, config_text, settings_for
from tests.server.conftest import serve

ECHOES = [Behaviour("status", status=401, echo_key=True), Behaviour("status", status=400, echo_key=True),
          Behaviour("status", status=500, echo_key=True)]


@pytest.mark.parametrize("stream", [False, True])
def test_key_echoed_by_the_upstream_is_redacted_everywhere(stream: bool, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeUpstream(ECHOES) as up:
        settings = settings_for({"up": up.base_url}, ["up/m"], home=tmp_path / "home")
        store = open_store(f"sqlite:///{tmp_path / 's.db'}")
        app = create_app(settings, pool=ModelPool(settings), store=store, open_mode=False)
        client_key, _ = KeyRepo(store).create("alice")
        h = {"Authorization": f"Bearer {client_key}"}
        bodies: list[str] = []
        with serve(app, store) as srv:
            for _ in ECHOES:
                r = httpx.post(f"{srv.url}/v1/chat/completions", headers=h, timeout=30, json={
                    "model": "up/m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
                bodies.append(r.text)
                assert "incorrect API key provided: ***" in r.text  # the echo arrived, redacted
            runs = store.list_runs(10)
            traces = [httpx.get(f"{srv.url}/v1/coe/runs/{run.id}", headers=h).text for run in runs]
            metrics = httpx.get(f"{srv.url}/metrics").text
            r = httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {PLANTED_KEY}"})
            assert r.status_code == 401 and PLANTED_KEY not in r.text
    assert len(runs) == 3 and all(t for t in traces)
    formatted = "\n".join(JsonFormatter().format(rec) for rec in caplog.records)
    for secret in (PLANTED_KEY, client_key):
        for where, text in (("error bodies", "\n".join(bodies)), ("traces", "\n".join(traces)),
                            ("metrics", metrics), ("logs", formatted), ("raw log text", caplog.text)):
            assert secret not in text, f"{secret[:6]}… leaked into {where}"


def test_doctor_never_prints_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "coe.toml"
    cfg.write_text(config_text({"up": "http://127.0.0.1:9/v1"}, ["up/m"]) + f'\n[keys]\ndeepseek = "{PLANTED_KEY}x"\n')
    env = {**os.environ, "UP_KEY": PLANTED_KEY, "COE_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": PLANTED_KEY,
           "COE_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    for args in (["doctor"], ["doctor", "--deep"], ["models", "--json"]):
        p = subprocess.run([sys.executable, "-m", "coe", "--config", str(cfg), *args], env=env, capture_output=True,
                           text=True, timeout=300)
        assert PLANTED_KEY not in p.stdout + p.stderr, args
        assert "Traceback" not in p.stderr
    assert "set (config file)" in subprocess.run(
        [sys.executable, "-m", "coe", "--config", str(cfg), "doctor"], env=env, capture_output=True, text=True,
        timeout=300).stdout


def test_reprs_and_errors_hide_keys() -> None:
    settings = settings_for({"up": "http://127.0.0.1:9/v1"}, ["up/m"])
    pool = ModelPool(settings)
    prov = pool.provider("up/m")
    req = prov.adapter.build("http://x/v1", "m", PLANTED_KEY, ChatRequest.of("up/m", "q"),  # type: ignore[attr-defined]
                             stream=False)
    for obj in (settings, pool, prov, req):
        assert PLANTED_KEY not in repr(obj) and PLANTED_KEY not in str(obj)
