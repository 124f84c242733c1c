"""The `coe` command as a user runs it: real processes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHINESE_VENDORS = {"deepseek", "qwen", "doubao", "moonshot", "zhipu", "qianfan", "hunyuan", "spark", "minimax",
                   "yi", "stepfun", "baichuan", "sensenova", "zhinao"}


def coe(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_PASSWORD"))}
    base.pop("COE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "coe", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, input=stdin, timeout=timeout, check=False)


def assert_one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 1, res
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0]


def test_models_json_lists_catalog_with_fields() -> None:
    res = coe("models", "--json")
    assert res.returncode == 0, res.stderr
    models = json.loads(res.stdout)
    assert len(models) >= 54
    vendors = {m["vendor"] for m in models}
    assert len(vendors) >= 16
    assert CHINESE_VENDORS | {"openai", "anthropic", "gemini", "mistral", "ollama", "embedded"} <= vendors
    for m in models:
        for field in ("id", "wire", "base_url", "key_env", "context_window", "price_in", "price_out",
                      "prices_as_of", "strengths", "available"):
            assert field in m, (m["id"], field)
        assert m["id"].startswith(m["vendor"] + "/")


def test_models_available_follows_keys(empty_home: Path) -> None:
    res = coe("models", "--available", "--json", env={"COE_HOME": str(empty_home)})
    assert json.loads(res.stdout) == []
    res = coe("models", "--available", "--json",
              env={"COE_HOME": str(empty_home), "DEEPSEEK_API_KEY": "sk-test"})
    ids = {m["id"] for m in json.loads(res.stdout)}
    assert ids and all(i.startswith("deepseek/") for i in ids)


def test_missing_key_is_one_line_naming_the_variable() -> None:
    res = coe("ask", "-m", "deepseek/deepseek-chat", "hello")
    assert_one_line_error(res, "deepseek/deepseek-chat", "DEEPSEEK_API_KEY")


def test_anthropic_missing_key_names_its_variable() -> None:
    res = coe("ask", "-m", "anthropic/claude-3-5-haiku-latest", "hello")
    assert_one_line_error(res, "ANTHROPIC_API_KEY")


def test_unreachable_endpoint_fails_after_bounded_retries(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[vendors.dead]\nname="Dead"\nbase_url="http://127.0.0.1:9/v1"\nkey_env="DEAD_KEY"\n'
                   '[[models]]\nid="dead/m"\ncontext_window=4096\n[http]\nbackoff_base_s=0.05\n')
    res = coe("--config", str(cfg), "ask", "-m", "dead/m", "hi", env={"DEAD_KEY": "secret-value-123"}, timeout=30)
    assert_one_line_error(res, "dead/m", "cannot reach", "after 3 attempts")
    assert "secret-value-123" not in res.stderr + res.stdout


def test_unknown_model_and_empty_question() -> None:
    assert_one_line_error(coe("ask", "-m", "nope/nothing", "hi"), "unknown model 'nope/nothing'")
    assert_one_line_error(coe("ask", "   "), "empty")


def test_invalid_config_is_one_line_with_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[http]\ntimeout_s = -5\n")
    assert_one_line_error(coe("--config", str(cfg), "models"), str(cfg), "http.timeout_s")
    assert_one_line_error(coe("models", env={"COE_CONFIG": str(tmp_path / "none.toml")}), "not found")


def test_doctor_fails_when_no_model_and_never_prints_keys(empty_home: Path) -> None:
    res = coe("doctor", env={"COE_HOME": str(empty_home)})
    assert res.returncode == 1
    assert "coe models pull" in res.stdout + res.stderr
    res = coe("doctor", env={"COE_HOME": str(empty_home), "OPENAI_API_KEY": "sk-planted-abc123"})
    assert "sk-planted-abc123" not in res.stdout + res.stderr
    assert "OPENAI_API_KEY" in res.stdout


@pytest.mark.embedded
def test_ask_json_with_the_real_embedded_model(embedded_home: Path) -> None:
    res = coe("ask", "--json", "-m", "embedded/qwen2.5-coder-0.5b-instruct",
              "一个半小时是几个半小时?", env={"COE_HOME": str(embedded_home)})
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["answer"].strip()
    assert data["model"] == "embedded/qwen2.5-coder-0.5b-instruct"
    assert data["usage"]["output_tokens"] > 0 and data["usage"]["input_tokens"] > 0
    assert data["cost"]["total_usd"] == 0
    assert data["latency_ms"] > 0


@pytest.mark.embedded
def test_ask_streams_plain_text_and_reads_stdin(embedded_home: Path) -> None:
    res = coe("ask", "-m", "embedded/smollm2-135m-instruct", "-",
              stdin="Say hello.", env={"COE_HOME": str(embedded_home)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()
    assert "embedded/smollm2-135m-instruct" in res.stderr  # the footer: model, tokens, cost, time


def test_unknown_mode_is_one_line() -> None:
    assert_one_line_error(coe("ask", "--mode", "telepathy", "hi"), "unknown mode 'telepathy'", "collaborate")


def test_runs_show_unknown_id() -> None:
    assert_one_line_error(coe("runs", "show", "nonexistent"), "no run 'nonexistent'")


@pytest.mark.embedded
def test_collaborate_on_the_embedded_pool_and_show_its_trace(embedded_home: Path) -> None:
    env = {"COE_HOME": str(embedded_home)}
    res = coe("ask", "--mode", "collaborate", "--json", "一个半小时是几个半小时?", env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["mode"] == "collaborate" and data["answer"].strip()
    stages = {s["role"]: s for s in data["stages"]}
    assert set(stages) == {"expert", "reflector", "summarizer"}
    assert all(s["output"].strip() and s["status"] == "ok" for s in stages.values())
    assert len({s["model"] for s in stages.values()}) >= 2
    assert data["totals"]["stages"] == 3 and data["totals"]["output_tokens"] > 0
    shown = coe("runs", "show", data["run_id"][:12], env=env)
    assert shown.returncode == 0, shown.stderr
    for needle in ("expert", "reflector", "summarizer", "prompt", "output", stages["expert"]["model"]):
        assert needle in shown.stdout
    listed = json.loads(coe("runs", "list", "--json", env=env).stdout)
    assert listed[0]["id"] == data["run_id"] and listed[0]["status"] == "ok"


def test_route_json_has_category_confidence_candidates_subtasks() -> None:
    res = coe("route", "--json", "把这段话翻译成英文,然后写个Python函数统计词频")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"category", "confidence", "candidates", "subtasks"} <= set(data)
    assert [s["category"] for s in data["subtasks"]] == ["translation", "code"]


def test_route_eval_reports_accuracy_confusion_and_latency(tmp_path: Path) -> None:
    f = tmp_path / "small.jsonl"
    f.write_text('{"query": "write a bash loop over files", "category": "code"}\n'
                 '{"query": "你好呀,最近怎么样", "category": "chitchat"}\n')
    res = coe("route", "eval", str(f), "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"accuracy", "n", "per_category", "confusion", "p50_ms", "p99_ms"} <= set(data)
    assert data["n"] == 2 and set(data["per_category"]["code"]) >= {"precision", "recall"}


def test_route_bad_input_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(coe("route", "eval", str(tmp_path / "missing.jsonl")), "file not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert_one_line_error(coe("route", "train", str(bad), env={"COE_HOME": str(tmp_path / "h")}), "bad.jsonl:1")
