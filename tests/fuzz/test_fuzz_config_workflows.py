"""Fuzzing the config loader (TOML → settings → catalog) and workflow YAML: any input is either accepted or
refused with the one error type that names the problem (ConfigError / WorkflowError) — never a traceback —
and every workflow that is accepted runs to an answer or a clear failure on fake models."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coe.catalog import load_catalog
from coe.config import Settings, parse_config
from coe.errors import ConfigError, InputError, WorkflowError
from coe.events import RunFailed, RunFinished
from coe.providers.fake import FakeScript
from coe.workflows import Engine
from coe.workflows.base import parse_workflow
from tests.fakes import fake_pool

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False, width=32),
                    st.text(max_size=12), st.sampled_from(["openai", "anthropic", "embedded", "fake", "x/y", "up",
                                                           "http://127.0.0.1:9/v1", "UP_KEY", "strong", "code"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def toml_value(v: Any) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


section_keys = {
    "http": ["timeout_s", "connect_timeout_s", "read_timeout_s", "max_attempts", "backoff_base_s", "nope"],
    "server": ["max_input_chars", "cache_ttl_s", "cors_origins", "max_streams", "queue_timeout_s", "redis_url"],
    "store": ["url"], "router": ["kind", "threshold", "dispatch"], "kb": ["enabled", "min_dense"],
    "embedded": ["threads", "context", "parallel"],
}
vendor = st.fixed_dictionaries({}, optional={k: v for k, v in {
    "name": st.text(max_size=6), "base_url": st.sampled_from(["http://127.0.0.1:9/v1", "", "ftp://x", "nope"]),
    "key_env": st.sampled_from(["UP_KEY", "", "1BAD"]), "wire": st.sampled_from(["openai", "anthropic", "bogus"]),
    "local": st.booleans(), "extra": scalars}.items()})
model = st.fixed_dictionaries({}, optional={k: v for k, v in {
    "id": st.sampled_from(["up/m", "up/", "/m", "UP/M", "deepseek/deepseek-chat", "nope"]),
    "context_window": st.one_of(st.integers(-1, 10**6), st.text(max_size=3)),
    "price_in": st.one_of(st.floats(-1, 10, allow_nan=False), st.text(max_size=2)),
    "strengths": st.lists(st.sampled_from(["code", "math", "nonsense"]), max_size=2),
    "tier": st.sampled_from(["strong", "weak"]), "vendor": st.sampled_from(["up", "ghost"]), "x": scalars}.items()})


@st.composite
def config_docs(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for key in draw(st.lists(st.sampled_from(["default_model", "team", "workflows_dir", "bogus"]), max_size=2,
                             unique=True)):
        lines.append(f"{key} = {toml_value(draw(values))}")
    for sec in draw(st.lists(st.sampled_from(list(section_keys)), max_size=3, unique=True)):
        lines.append(f"[{sec}]")
        for k in draw(st.lists(st.sampled_from(section_keys[sec]), max_size=3, unique=True)):
            lines.append(f"{k} = {toml_value(draw(values))}")
    for vid, v in draw(st.dictionaries(st.sampled_from(["up", "deepseek", "x y"]), vendor, max_size=2)).items():
        lines.append(f"[vendors.{json.dumps(vid)}]")
        lines += [f"{k} = {toml_value(x)}" for k, x in v.items()]
    for m in draw(st.lists(model, max_size=2)):
        lines.append("[[models]]")
        lines += [f"{k} = {toml_value(x)}" for k, x in m.items()]
    return "\n".join(lines) + "\n"


def load(text: str) -> None:
    try:
        settings_ = Settings(parse_config(text, "fuzz.toml"), env={"UP_KEY": "k"})
        load_catalog(settings_)
    except ConfigError as e:
        assert str(e).startswith("fuzz.toml") or "catalog" in str(e) or "key '" in str(e) or str(e), e
    except InputError:  # e.g. an unknown model id named in the config
        pass


@SETTINGS
@given(config_docs())
def test_structured_configs_load_or_fail_with_config_error(text: str) -> None:
    load(text)


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace"))))
def test_arbitrary_text_as_config(text: str) -> None:
    load(text)


# ---- workflows ---------------------------------------------------------------------------------------

stage_ids = st.sampled_from(["a", "b", "c", "expert", "question", "previous", "Bad-Id", ""])
stage = st.fixed_dictionaries({"id": stage_ids, "role": st.sampled_from(["expert", "reflector", "x"]),
                               "prompt": st.sampled_from(["expert", "reflector", "summarizer", "direct",
                                                          "nonexistent", "../../etc/passwd"])},
                              optional={"inputs": st.lists(stage_ids, max_size=3),
                                        "count": st.integers(-1, 20), "foreach": stage_ids,
                                        "optional": st.booleans(), "kind": st.sampled_from(["llm", "join", "x"]),
                                        "max_tokens": st.integers(-1, 100), "model": st.sampled_from(
                                            ["fa/m", "nope/m", "routed", ["fa/m", "fb/m"]]),
                                        "max_items": st.integers(0, 20), "slot": st.integers(-1, 5),
                                        "vars": st.dictionaries(st.text(max_size=4), st.text(max_size=4),
                                                                max_size=2),
                                        "bogus": scalars})
step = st.one_of(stage, st.fixed_dictionaries({"parallel": st.lists(stage, max_size=3)},
                                              optional={"rounds": st.integers(0, 9)}))
workflow_doc = st.fixed_dictionaries({"name": st.text(max_size=5)}, optional={
    "steps": st.one_of(st.lists(step, max_size=4), scalars), "final": stage_ids, "description": scalars})


def parse(text: str) -> None:
    try:
        wf = parse_workflow(text, "fuzz.yaml")
    except WorkflowError as e:
        assert str(e).startswith("fuzz.yaml"), e
        return
    pool, _ = fake_pool({m: FakeScript(["1. one\n2. two"]) for m in ("fa/m", "fb/m", "fc/m", "fd/m")})

    async def run() -> list[object]:
        return [ev async for ev in Engine(pool).run("q", workflow=wf)]

    try:
        events = asyncio.run(asyncio.wait_for(run(), 20))
    except (WorkflowError, InputError):  # e.g. a prompt file that does not exist, an unknown model id
        return
    assert isinstance(events[-1], (RunFinished, RunFailed))


@SETTINGS
@given(workflow_doc)
def test_structured_workflows_parse_and_run_or_fail_clearly(doc: dict[str, Any]) -> None:
    parse(yaml.safe_dump(doc, allow_unicode=True))


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_as_workflow(text: str) -> None:
    parse(text)
