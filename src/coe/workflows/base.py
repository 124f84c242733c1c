"""Workflows as data: stages, parallel groups, rounds. Loaded from YAML, validated with clear errors."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coe.config import format_validation_error
from coe.errors import WorkflowError

QUESTION = "question"


class StageSpec(BaseModel):
    """One model call. ``model``: a catalog id, a ranked list of ids, ``"routed"``, or unset = a team slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: str
    prompt: str = Field(description="template name (prompts/NAME.zh.md, NAME.en.md) or a path")
    inputs: tuple[str, ...] = (QUESTION,)
    model: str | tuple[str, ...] | None = None
    slot: int | None = Field(None, ge=0, description="team position; default: order of appearance")
    prefer: Literal["strong", "any"] = "any"
    count: int = Field(1, ge=1, le=16, description="expand into N members on consecutive slots")
    foreach: str | None = Field(None, description="one member per item listed in that stage's output")
    max_items: int = Field(4, ge=1, le=16)
    max_tokens: int | None = Field(None, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)
    timeout_s: float | None = Field(None, gt=0)
    optional: bool = Field(False, description="on failure the stage is skipped and recorded; the run goes on")
    vars: dict[str, str] = Field(default_factory=dict, description="extra {placeholders} for this stage's prompt")
    retrieve: bool = Field(False, description="search the knowledge base for this stage's item (deep mode)")
    kind: Literal["llm", "join"] = Field("llm", description="join: no model call; the output is the inputs' "
                                                           "sections joined under their headings")

    @field_validator("model", mode="before")
    @classmethod
    def _list_to_tuple(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v


class StepSpec(BaseModel):
    """Stages that run concurrently; ``rounds`` > 1 repeats them, each round seeing the previous one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parallel: tuple[StageSpec, ...] = Field(min_length=1)
    rounds: int = Field(1, ge=1, le=8)


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    steps: tuple[StepSpec, ...] = Field(min_length=1)
    final: str | None = Field(None, description="stage whose output is the answer; default: the last one")
    source: str = Field("", exclude=True)

    @field_validator("steps", mode="before")
    @classmethod
    def _wrap_single_stages(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        return [s if isinstance(s, dict) and "parallel" in s else {"parallel": [s]} for s in v]

    @model_validator(mode="after")
    def _check_references(self) -> Workflow:
        seen: set[str] = {QUESTION}
        for i, step in enumerate(self.steps):
            ids = [st.id for st in step.parallel]
            for st in step.parallel:
                if st.id in seen or ids.count(st.id) > 1:
                    raise ValueError(f"steps[{i}]: duplicate stage id '{st.id}'")
                for name in st.inputs:
                    if name not in seen and name != "previous":
                        raise ValueError(f"steps[{i}].{st.id}.inputs: '{name}' is not an earlier stage")
                if st.foreach and st.foreach not in seen:
                    raise ValueError(f"steps[{i}].{st.id}.foreach: '{st.foreach}' is not an earlier stage")
            seen.update(ids)
        if self.final and self.final not in seen:
            raise ValueError(f"final: '{self.final}' is not a stage")
        return self

    @property
    def stages(self) -> list[StageSpec]:
        return [st for step in self.steps for st in step.parallel]

    @property
    def final_stage(self) -> str:
        return self.final or self.steps[-1].parallel[-1].id


def parse_workflow(text: str, source: str) -> Workflow:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise WorkflowError(f"{source}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise WorkflowError(f"{source}: a workflow is a mapping with 'name' and 'steps'")
    try:
        return Workflow.model_validate({**raw, "source": source})
    except ValidationError as e:
        key, msg = format_validation_error(e)
        raise WorkflowError(f"{source}: field '{key}': {msg}",
                            hint="see docs/workflows.md") from None


def builtin_names() -> list[str]:
    folder = resources.files("coe.workflows") / "builtin"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_workflow(name: str, user_dir: str | Path | None = None) -> Workflow:
    """A user workflow (``user_dir/NAME.yaml``) wins over a built-in of the same name."""
    if not user_dir:
        return _builtin(name)
    return _load(name, user_dir)


@lru_cache(maxsize=64)
def _builtin(name: str) -> Workflow:  # built-ins never change while running: parse once
    return _load(name, None)


def _load(name: str, user_dir: str | Path | None) -> Workflow:
    if user_dir:
        path = Path(user_dir).expanduser() / f"{name}.yaml"
        if path.is_file():
            return parse_workflow(path.read_text(encoding="utf-8"), str(path))
    res = resources.files("coe.workflows") / "builtin" / f"{name}.yaml"
    if not res.is_file():
        names = builtin_names() + sorted(p.stem for p in Path(user_dir).expanduser().glob("*.yaml")) \
            if user_dir and Path(user_dir).expanduser().is_dir() else builtin_names()
        raise WorkflowError(f"unknown mode '{name}'", hint=f"choose one of {', '.join(names)}")
    return parse_workflow(res.read_text(encoding="utf-8"), f"builtin/{name}.yaml")
