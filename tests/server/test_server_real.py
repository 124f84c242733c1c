"""`coe serve` for real: the openai SDK against the embedded pool; replicas sharing PostgreSQL and Redis;
SIGTERM draining a stream from a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from coe.config import Settings
from coe.providers.pool import ModelPool
from coe.server import create_app
from coe.store import open_store
from coe.store.keys import KeyRepo
from coe.testing import Behaviour, FakeUpstream
from tests.server.conftest import fake_app, free_port, serve
from tests.test_store import postgres_url


@pytest.mark.embedded
def test_openai_sdk_against_the_embedded_pool(embedded_home: Path, tmp_path: Path) -> None:
    settings = Settings(home=embedded_home, env={})
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    app = create_app(settings, pool=ModelPool(settings), store=store, open_mode=True)
    with serve(app, store) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=300)
        ids = {m.id for m in c.models.list()}
        assert "coe-collab" in ids and "embedded/qwen2.5-coder-0.5b-instruct" in ids
        q = [{"role": "user", "content": "一个半小时是几个半小时?"}]
        done = c.chat.completions.create(model="coe-collab", messages=q, max_tokens=48)  # type: ignore[arg-type]
        assert done.choices[0].message.content
        stages = (done.model_extra or {})["coe"]["stages"]
        assert [s["role"] for s in stages] == ["expert", "reflector", "summarizer"]
        assert len({s["model"] for s in stages}) >= 2
        reasoning, content, events = [], [], []
        for chunk in c.chat.completions.create(model="coe-collab", messages=q, max_tokens=48,  # type: ignore[arg-type]
                                               stream=True):
            coe = (chunk.model_extra or {}).get("coe") or {}
            if coe.get("event"):
                events.append(coe["event"])
            for ch in chunk.choices:
                content.append(ch.delta.content or "")
                reasoning.append((ch.delta.model_extra or {}).get("reasoning_content") or "")
        assert "".join(content).strip()
        assert "expert" in "".join(reasoning) and "reflector" in "".join(reasoning)
        assert events.count("stage_finished") == 3 and events[-1] == "run_finished"


def test_two_replicas_share_postgres_and_redis(tmp_path: Path) -> None:
    pg, redis_url = postgres_url(), os.environ.get("COE_TEST_REDIS_URL")
    if not pg or not redis_url:
        if os.environ.get("CI"):
            pytest.fail("CI must run this test: start PostgreSQL and Redis with scripts/services.sh")
        pytest.skip("needs COE_TEST_POSTGRES_URL and COE_TEST_REDIS_URL (scripts/services.sh)")
    settings = Settings(env={"COE_REDIS_URL": redis_url})
    app_a, store_a = fake_app(tmp_path, open_mode=False, store_url=pg, settings=settings)
    app_b, store_b = fake_app(tmp_path, open_mode=False, store_url=pg, settings=settings)
    with serve(app_a, store_a) as a, serve(app_b, store_b) as b:
        while int(time.time()) % 60 > 50:  # keep the five requests below inside one rate-limit minute
            time.sleep(1)
        key, _ = KeyRepo(store_a).create(f"replicas-{time.time_ns()}", rate_per_min=4)
        h = {"Authorization": f"Bearer {key}"}
        body = {"model": "fa/m", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{a.url}/v1/chat/completions", json=body, headers=h, timeout=30)
        assert r.status_code == 200
        run_id = r.json()["coe"]["run_id"]
        assert httpx.get(f"{b.url}/v1/coe/runs/{run_id}", headers=h).json()["answer"]  # trace seen by B
        assert httpx.get(f"{b.url}/v1/models", headers=h).status_code == 200  # key created via A works on B
        assert httpx.get(f"{a.url}/v1/models", headers=h).status_code == 200
        limited = httpx.get(f"{b.url}/v1/models", headers=h)  # 5th request in the minute, across replicas
        assert limited.status_code == 429
        assert httpx.get(f"{b.url}/readyz").json()["redis"] == "ok"


def test_sigterm_drains_an_open_stream(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, int]:
        async with FakeUpstream([Behaviour(text="abcdefghij" * 3, chunk_chars=1, token_delay_s=0.1)]) as up:
            cfg = tmp_path / "coe.toml"
            cfg.write_text(f'[vendors.up]\nname = "Up"\nbase_url = "{up.base_url}"\nkey_env = "UP_KEY"\n'
                           '[[models]]\nid = "up/m"\ncontext_window = 4096\n')
            port = free_port()
            env = {**os.environ, "UP_KEY": "k", "COE_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
            proc = subprocess.Popen([sys.executable, "-m", "coe", "--config", str(cfg), "serve", "--open",
                                     "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(timeout=30) as c:
                for _ in range(200):
                    try:
                        if (await c.get(url + "/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                text: list[str] = []
                async with c.stream("POST", url + "/v1/chat/completions", json={
                        "model": "up/m", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: {"):
                            for ch in json.loads(line[6:]).get("choices", []):
                                text.append(ch["delta"].get("content") or "")
                            if len("".join(text)) == 3:
                                proc.send_signal(signal.SIGTERM)  # mid-stream
                        if line == "data: [DONE]":
                            text.append("<DONE>")
            code = await asyncio.to_thread(proc.wait, 30)
            return "".join(text), code

    text, code = asyncio.run(scenario())
    assert text == "abcdefghij" * 3 + "<DONE>"  # the stream finished after SIGTERM
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
