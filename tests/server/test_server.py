"""`coe serve` through the official openai SDK and raw HTTP, over fake models."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from coe.errors import UnavailableError
from coe.providers.fake import FakeScript
from coe.store.keys import KeyRepo
from tests.server.conftest import fake_app, serve


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_sdk_lists_models_and_answers(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        c = client(srv.url)
        ids = {m.id for m in c.models.list()}
        assert {"coe-auto", "coe-concise", "coe-standard", "coe-deep", "coe-collab", "coe-collab-5",
                "coe-moa", "fa/m"} <= ids
        done = c.chat.completions.create(model="coe-collab", messages=[{"role": "user", "content": "hi"}])
        assert done.choices[0].message.content and done.usage and done.usage.total_tokens > 0
        extra = done.model_extra or {}
        run_id = extra["coe"]["run_id"]
        assert [s["role"] for s in extra["coe"]["stages"]] == ["expert", "reflector", "summarizer"]
        trace = httpx.get(f"{srv.url}/v1/coe/runs/{run_id}").json()
        assert trace["status"] == "ok" and len(trace["stages"]) == 3
        passthrough = c.chat.completions.create(model="fb/m", messages=[{"role": "user", "content": "x"}])
        assert passthrough.choices[0].message.content == "answer from fb/m"


def test_sdk_stream_shows_stage_deltas_then_the_answer(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        stream = client(srv.url).chat.completions.create(
            model="coe-collab", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True})
        content, reasoning, stages, usage, finish = [], [], [], None, None
        for chunk in stream:
            extra = chunk.model_extra or {}
            if chunk.usage:
                usage = chunk.usage
            if extra.get("coe", {}).get("event") == "stage_started":
                stages.append(extra["coe"]["role"])
            for ch in chunk.choices:
                d = ch.delta
                if d.content:
                    content.append(d.content)
                if (d.model_extra or {}).get("reasoning_content"):
                    reasoning.append(d.model_extra["reasoning_content"])  # type: ignore[index]
                finish = ch.finish_reason or finish
        assert stages == ["expert", "reflector", "summarizer"]
        answer = "".join(content)
        assert answer.startswith("answer from") and finish == "stop"
        assert "expert" in "".join(reasoning) and "answer from" in "".join(reasoning)  # earlier stages visible
        assert usage is not None and usage.total_tokens > 0


def test_errors_are_openai_shaped_and_never_500(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        c = client(srv.url)
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            c.chat.completions.create(model="nope/none", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.BadRequestError, match="temperature"):
            c.chat.completions.create(model="coe-concise", messages=[{"role": "user", "content": "x"}],
                                      temperature=5)
        with pytest.raises(openai.BadRequestError, match="messages"):
            c.chat.completions.create(model="coe-concise", messages=[])
        url = f"{srv.url}/v1/chat/completions"
        cases = [b"{not json", b"[]", b'{"model": "coe-auto"}', b'{"model": 3, "messages": "x"}',
                 json.dumps({"model": "coe-concise", "messages": [{"role": "user", "content": "x" * 300_000}]}
                            ).encode(),
                 json.dumps({"model": "coe-concise", "messages": [{"role": "user", "content": "   "}]}).encode(),
                 json.dumps({"model": "coe-concise", "messages": [{"role": "user", "content": "x"}], "n": 3}).encode(),
                 b"\xff\xfe\x00binary"]
        for body in cases:
            r = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
            assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text)
            err = r.json()["error"]
            assert err["message"] and err["type"]
        assert httpx.get(f"{srv.url}/v1/coe/runs/nope").status_code == 404


def test_keys_auth_rate_limit_and_budget(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, open_mode=False)
    repo = KeyRepo(store)
    key, _ = repo.create("team-a", rate_per_min=2)
    with serve(app, store) as srv:
        with pytest.raises(openai.AuthenticationError):
            client(srv.url, "coe-wrong").models.list()
        r = httpx.get(f"{srv.url}/v1/models")
        assert r.status_code == 401 and "coe keys create" in r.json()["error"]["message"]
        c = client(srv.url, key)
        c.models.list()
        c.models.list()
        r = httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        cheap, _ = repo.create("tiny-budget", budget_usd=1e-9)
        c2 = client(srv.url, cheap)
        c2.chat.completions.create(model="fa/m", messages=[{"role": "user", "content": "spend"}])
        time.sleep(5.1)  # verified keys are cached for 5 s
        with pytest.raises(openai.RateLimitError, match="budget"):
            c2.chat.completions.create(model="fa/m", messages=[{"role": "user", "content": "more"}])
        assert repo.list()[1].spent_usd > 0


def test_health_ready_metrics_and_request_ids(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        assert httpx.get(f"{srv.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{srv.url}/readyz")
        assert ready.status_code == 200 and ready.json()["store"] == "ok"
        r = httpx.post(f"{srv.url}/v1/chat/completions", headers={"X-Request-ID": "abc123"},
                       json={"model": "coe-concise", "messages": [{"role": "user", "content": "hi"}]})
        assert r.headers["x-request-id"] == "abc123"
        with httpx.stream("POST", f"{srv.url}/v1/chat/completions", headers={"X-Request-ID": "s-1"},
                          json={"model": "coe-concise", "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]}) as sr:
            assert sr.headers["x-request-id"] == "s-1" and sr.read().endswith(b"data: [DONE]\n\n")
        bad = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "nope/x", "messages": []})
        assert bad.status_code in (400, 404, 422) and len(bad.headers["x-request-id"]) == 32
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert 'coe_requests_total{model="",route="/v1/chat/completions",status="200"} 2.0' in metrics
        assert f'route="/v1/chat/completions",status="{bad.status_code}"}} 1.0' in metrics
        assert 'coe_requests_total{model="",route="/v1/chat/completions",status="200"}' in metrics
        assert "coe_tokens_total{" in metrics and 'role="answerer"' in metrics
        assert "coe_cost_usd_total{" in metrics
        spec = httpx.get(f"{srv.url}/openapi.json").json()
        assert "/v1/chat/completions" in spec["paths"]


def test_failed_run_is_a_502_with_the_reason(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, {"fa/m": FakeScript([UnavailableError("fa/m", "HTTP 503 injected")])})
    with serve(app, store) as srv:
        r = httpx.post(f"{srv.url}/v1/chat/completions",
                       json={"model": "fa/m", "messages": [{"role": "user", "content": "x"}]}, timeout=30)
        assert r.status_code == 502 and "503 injected" in r.json()["error"]["message"]


def test_client_disconnect_cancels_the_run(tmp_path: Path) -> None:
    slow = {m: FakeScript(["x" * 2000], chunk_chars=1, token_delay_s=0.01) for m in ("fa/m", "fb/m")}
    app, store = fake_app(tmp_path, slow)
    with serve(app, store) as srv:
        with httpx.stream("POST", f"{srv.url}/v1/chat/completions", timeout=30,
                          json={"model": "fa/m", "stream": True,
                                "messages": [{"role": "user", "content": "x"}]}) as r:
            run_id = ""
            for line in r.iter_lines():
                if '"run_id"' in line:
                    run_id = json.loads(line[6:])["coe"]["run_id"]
                if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content") == "x":
                    break
        deadline = time.time() + 10
        status = "running"
        while time.time() < deadline and status == "running":
            time.sleep(0.2)
            status = store.get_run(run_id).status
        assert status == "cancelled"


async def test_concurrent_streams(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, {m: FakeScript(["0123456789"], chunk_chars=2, token_delay_s=0.01)
                                     for m in ("fa/m",)})
    with serve(app, store) as srv:
        async with httpx.AsyncClient(timeout=60) as c:
            async def one() -> str:
                async with c.stream("POST", f"{srv.url}/v1/chat/completions",
                                    json={"model": "fa/m", "stream": True,
                                          "messages": [{"role": "user", "content": "x"}]}) as r:
                    text = []
                    async for line in r.aiter_lines():
                        if line.startswith("data: {"):
                            for ch in json.loads(line[6:]).get("choices", []):
                                text.append(ch["delta"].get("content") or "")
                    return "".join(text)
            results = await asyncio.gather(*[one() for _ in range(50)])
        assert results == ["0123456789"] * 50


def test_exact_match_cache(tmp_path: Path) -> None:
    from coe.config import FileConfig, ServerSettings, Settings

    settings = Settings(FileConfig(server=ServerSettings(cache_ttl_s=60)), env={})
    app, store = fake_app(tmp_path, settings=settings)
    with serve(app, store) as srv:
        body = {"model": "fa/m", "messages": [{"role": "user", "content": "same question"}]}
        first = httpx.post(f"{srv.url}/v1/chat/completions", json=body, timeout=30)
        second = httpx.post(f"{srv.url}/v1/chat/completions", json=body, timeout=30)
        other = httpx.post(f"{srv.url}/v1/chat/completions", timeout=30,
                           json={**body, "messages": [{"role": "user", "content": "another"}]})
        assert "x-coe-cache" not in first.headers and second.headers["x-coe-cache"] == "hit"
        assert second.json() == first.json() and "x-coe-cache" not in other.headers
