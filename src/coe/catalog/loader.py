"""Load ``vendors.yaml`` and ``models.yaml``, merge user overrides from coe.toml, validate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from coe.config import Settings, format_validation_error
from coe.errors import ConfigError, InputError
from coe.types import Cost, Usage

CATEGORIES: tuple[str, ...] = (
    "code", "math", "reasoning", "knowledge", "writing", "translation", "classical_chinese",
    "daily_life", "summarization", "extraction", "role_play", "chitchat",
)

Wire = Literal["openai", "anthropic", "embedded", "fake"]


class VendorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    wire: Wire = "openai"
    base_url: str
    key_env: str | None = None
    local: bool = False
    base_url_env: str | None = None
    docs: str | None = None


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*/.+$")
    vendor: str
    model: str
    name: str
    context_window: int = Field(gt=0)
    max_output: int = Field(4096, gt=0)
    price_in: float = Field(0.0, ge=0, description="USD per 1M input tokens")
    price_out: float = Field(0.0, ge=0, description="USD per 1M output tokens")
    strengths: tuple[str, ...] = ()
    tier: Literal["strong", "balanced", "cheap"] = "balanced"
    token_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="the request field that caps output (OpenAI's reasoning models need "
                                  "max_completion_tokens)")
    languages: tuple[str, ...] = ("en",)

    @field_validator("strengths")
    @classmethod
    def _known_categories(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if c not in CATEGORIES]
        if bad:
            raise ValueError(f"unknown categories {bad}; use {', '.join(CATEGORIES)}")
        return v

    def cost(self, usage: Usage) -> Cost:
        return Cost(usage.input_tokens * self.price_in / 1e6, usage.output_tokens * self.price_out / 1e6)


class Catalog:
    """Vendors and models by id, in catalog order."""

    def __init__(self, vendors: Iterable[VendorInfo], models: Iterable[ModelInfo], prices_as_of: str) -> None:
        self.vendors = {v.id: v for v in vendors}
        self.models = {m.id: m for m in models}
        self.prices_as_of = prices_as_of

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def model(self, model_id: str) -> ModelInfo:
        try:
            return self.models[model_id]
        except KeyError:
            near = [m for m in self.models if model_id.lower() in m.lower()][:5]
            hint = f"did you mean {', '.join(near)}?" if near else "run `coe models` to list model ids"
            raise InputError(f"unknown model '{model_id}'", hint=hint) from None

    def vendor_of(self, model: ModelInfo) -> VendorInfo:
        return self.vendors[model.vendor]


def _read_yaml(name: str) -> dict[str, Any]:
    text = resources.files("coe.catalog").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError("catalog file is not a mapping", file=name)
    return data


def _validate(cls: type[BaseModel], raw: Any, file: str, key: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError("expected a table/mapping", file=file, key=key)
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        sub, msg = format_validation_error(e)
        raise ConfigError(msg, file=file, key=f"{key}.{sub}") from None


def load_catalog(settings: Settings | None = None) -> Catalog:
    """Built-in catalog merged with the user's ``[vendors.*]`` and ``[[models]]`` (same id = override)."""
    settings = settings or Settings()
    vdata, mdata = _read_yaml("vendors.yaml"), _read_yaml("models.yaml")
    raw_vendors: dict[str, dict[str, Any]] = {k: {"id": k, **v} for k, v in vdata["vendors"].items()}
    raw_models: dict[str, dict[str, Any]] = {m["id"]: dict(m) for m in mdata["models"]}

    user_file = str(settings.path) if settings.path else "coe.toml"
    for vid, over in settings.file.vendors.items():
        raw_vendors[vid] = {**raw_vendors.get(vid, {}), "id": vid, **over}
    for i, over in enumerate(settings.file.models):
        mid = over.get("id")
        if not isinstance(mid, str):
            raise ConfigError("model entry needs an 'id' like 'vendor/model'", file=user_file,
                              key=f"models[{i}].id")
        base = raw_models.get(mid, {})
        merged = {**base, **over}
        if not base and "/" in mid:  # new model: sensible defaults from its id
            vendor, _, model = mid.partition("/")
            merged.setdefault("vendor", vendor)
            merged.setdefault("model", model)
            merged.setdefault("name", model)
        raw_models[mid] = merged

    builtin_ids = set(vdata["vendors"]) | {m["id"] for m in mdata["models"]}
    vendors = [
        _validate(VendorInfo, v, "vendors.yaml" if k in builtin_ids and k not in settings.file.vendors
                  else user_file, f"vendors.{k}")
        for k, v in raw_vendors.items()
    ]
    models: list[ModelInfo] = []
    for mid, m in raw_models.items():
        file = user_file if any(o.get("id") == mid for o in settings.file.models) else "models.yaml"
        info = _validate(ModelInfo, m, file, f"models.{mid}")
        if info.vendor not in raw_vendors:
            raise ConfigError(f"unknown vendor '{info.vendor}'", file=file, key=f"models.{mid}.vendor",
                              hint="define it under [vendors] first")
        models.append(info)
    return Catalog(vendors, models, str(mdata.get("prices_as_of", "unknown")))
