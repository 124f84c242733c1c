"""Settings: where CoE keeps its files, the user's config file, and key lookup. No network I/O.

The config file is TOML, found via ``--config``, then ``COE_CONFIG``, then ``./coe.toml``.
An invalid file raises one :class:`~coe.errors.ConfigError` naming the file, the key and the problem.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coe.errors import ConfigError

DEFAULT_HOME = Path("~/.cache/coe")
CONFIG_ENV = "COE_CONFIG"
HOME_ENV = "COE_HOME"
DATABASE_ENV = "COE_DATABASE_URL"
DEFAULT_CONFIG_NAME = "coe.toml"

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 8.0
DEFAULT_RETRY_AFTER_CAP_S = 30.0


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0, description="per-call limit on the whole call")
    connect_timeout_s: float = Field(DEFAULT_CONNECT_TIMEOUT_S, gt=0)
    read_timeout_s: float = Field(60.0, gt=0, description="longest silence between two received chunks")
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=10)
    backoff_base_s: float = Field(DEFAULT_BACKOFF_BASE_S, ge=0)
    backoff_cap_s: float = Field(DEFAULT_BACKOFF_CAP_S, ge=0)
    retry_after_cap_s: float = Field(DEFAULT_RETRY_AFTER_CAP_S, ge=0)


class EmbeddedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(0, ge=0, description="llama.cpp threads; 0 = number of cores")
    context: int = Field(8192, ge=512, description="context window per loaded model (tokens)")
    parallel: int = Field(2, ge=1, le=16, description="concurrent requests per loaded model")


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under COE_HOME. "
                                              "Env COE_DATABASE_URL overrides.")


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["classifier", "centroid", "llm"] = "classifier"
    llm_model: str | None = Field(default=None, description="model for kind = 'llm' (default: the default model)")
    threshold: float = Field(0.3, ge=0, le=1, description="below this confidence the default route is used")
    gate: float = Field(0.7, ge=0, le=1, description="n-gram confidence above which embeddings are skipped")
    default_category: str = "knowledge"
    quality: float = Field(0.5, ge=0, le=1, description="0 = cheapest capable model, 1 = strongest")
    strong_categories: list[str] = Field(default_factory=lambda: ["code", "math", "reasoning"])
    dispatch: dict[str, list[str]] = Field(default_factory=dict, description="category → ranked model ids")
    decompose_model: str | None = Field(default=None, description="LLM that splits multi-intent queries "
                                                                   "(default: rules only)")


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    redis_url: str | None = Field(default=None, description="rate limits and the response cache in Redis "
                                                            "(env COE_REDIS_URL); default: in-process")
    cache_ttl_s: int = Field(0, ge=0, description="exact-match response cache for non-streamed requests; 0 = off")
    max_input_chars: int = Field(200_000, gt=0)
    cors_origins: list[str] = Field(default_factory=list)
    max_streams: int = Field(2000, ge=0, description="chat requests served at once per process; later ones wait "
                                                     "(0 = no fixed cap)")
    max_loop_lag_ms: float = Field(50.0, gt=0, description="new requests wait while the event loop lags more "
                                                           "than this from its own work, counted against the "
                                                           "cgroup CPU quota (admission control under overload)")
    queue_timeout_s: float = Field(60.0, gt=0, description="longest wait for admission before a 503")


class KbSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="retrieval in concise/standard/deep/collaborate/moa modes")
    default: str | None = Field(default=None, description="knowledge base to search; default: 'default' if it "
                                                           "has documents, else the demo knowledge base")
    min_dense: float = Field(0.89, ge=0, le=1, description="passages less similar than this are not relevant")


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    web: Literal["none", "searxng", "brave"] = Field("none", description="web search backend (off by default)")
    searxng_url: str | None = None
    results: int = Field(4, ge=1, le=20)


class FileConfig(BaseModel):
    """The shape of coe.toml. Vendor and model tables are validated by the catalog loader."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_model: str | None = None
    keys: dict[str, str] = Field(default_factory=dict, description="vendor id → API key")
    vendors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: list[dict[str, Any]] = Field(default_factory=list)
    http: HttpSettings = Field(default_factory=HttpSettings)  # type: ignore[arg-type]
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)  # type: ignore[arg-type]
    store: StoreSettings = Field(default_factory=StoreSettings)  # type: ignore[arg-type]
    router: RouterSettings = Field(default_factory=RouterSettings)  # type: ignore[arg-type]
    server: ServerSettings = Field(default_factory=ServerSettings)  # type: ignore[arg-type]
    kb: KbSettings = Field(default_factory=KbSettings)  # type: ignore[arg-type]
    search: SearchSettings = Field(default_factory=SearchSettings)  # type: ignore[arg-type]
    team: list[str] = Field(default_factory=list, description="default team for collaborative modes")
    workflows_dir: str | None = Field(default=None, description="folder with the user's own workflow YAML files")


class Settings:
    """Everything a run needs to know about its environment. Cheap to build; holds no connections."""

    def __init__(self, file: FileConfig | None = None, *, path: Path | None = None,
                 home: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.file = file or FileConfig()
        self.path = path
        self.env = dict(os.environ) if env is None else env
        self.home = (home or Path(self.env.get(HOME_ENV) or DEFAULT_HOME)).expanduser()

    @property
    def http(self) -> HttpSettings:
        return self.file.http

    @property
    def embedded(self) -> EmbeddedSettings:
        return self.file.embedded

    @property
    def database_url(self) -> str:
        url = self.env.get(DATABASE_ENV) or self.file.store.url
        return url or f"sqlite:///{self.home / 'coe.db'}"

    @property
    def redis_url(self) -> str | None:
        return self.env.get("COE_REDIS_URL") or self.file.server.redis_url

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def api_key(self, vendor: str, key_env: str | None) -> str | None:
        """Key lookup order: config file ``[keys]`` → the environment variable named in the catalog."""
        key = self.file.keys.get(vendor)
        if key:
            return key
        if key_env:
            return self.env.get(key_env) or None
        return None

    def __repr__(self) -> str:  # never show keys
        return f"Settings(path={self.path}, home={self.home}, keys=<{len(self.file.keys)} hidden>)"


def find_config_path(explicit: str | Path | None = None, env: dict[str, str] | None = None) -> Path | None:
    env = dict(os.environ) if env is None else env
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError("config file not found", file=str(p),
                              hint="check the --config path")
        return p
    if env.get(CONFIG_ENV):
        p = Path(env[CONFIG_ENV]).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file not found (from {CONFIG_ENV})", file=str(p),
                              hint=f"fix or unset {CONFIG_ENV}")
        return p
    p = Path.cwd() / DEFAULT_CONFIG_NAME
    return p if p.is_file() else None


def format_validation_error(err: ValidationError) -> tuple[str, str]:
    """First problem of a pydantic error as (dotted key, message)."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return key, msg


def parse_config(text: str, path: str) -> FileConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML ({e})", file=path, hint="fix the syntax") from None
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as e:
        key, msg = format_validation_error(e)
        raise ConfigError(msg, file=path, key=key, hint="see docs/configuration.md") from None


def load_settings(config: str | Path | None = None, *, env: dict[str, str] | None = None) -> Settings:
    path = find_config_path(config, env)
    if path is None:
        return Settings(env=env)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config ({e.__class__.__name__})", file=str(path)) from None
    return Settings(parse_config(text, str(path)), path=path, env=env)
