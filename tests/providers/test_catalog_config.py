"""The built-in catalog, user overrides from coe.toml, config validation and config file lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from coe.catalog import CATEGORIES, load_catalog
from coe.config import FileConfig, Settings, find_config_path, load_settings, parse_config
from coe.errors import ConfigError, InputError

CHINESE = ("deepseek", "qwen", "doubao", "moonshot", "zhipu", "qianfan", "hunyuan", "spark", "minimax", "yi",
           "stepfun", "baichuan", "sensenova", "zhinao")
OTHERS = ("openai", "anthropic", "gemini", "mistral", "ollama", "vllm", "llamacpp", "embedded")


def settings_from(text: str, tmp_path: Path, name: str = "coe.toml") -> Settings:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return Settings(parse_config(text, str(path)), path=path, home=tmp_path, env={})


# ---- the built-in catalog ---------------------------------------------------------------------------


def test_catalog_size() -> None:
    cat = load_catalog(Settings(env={}))
    assert len(cat) >= 54
    assert len(list(cat)) == len(cat)
    assert len(cat.vendors) >= 16


@pytest.mark.parametrize("vendor", CHINESE + OTHERS)
def test_vendor_present_with_models(vendor: str) -> None:
    cat = load_catalog(Settings(env={}))
    assert vendor in cat.vendors
    assert any(m.vendor == vendor for m in cat), f"no model for {vendor}"


def test_every_model_is_well_formed() -> None:
    cat = load_catalog(Settings(env={}))
    for m in cat:
        vendor, sep, rest = m.id.partition("/")
        assert sep and rest, m.id
        assert vendor == m.vendor, m.id
        assert m.vendor in cat.vendors, m.id
        assert cat.vendor_of(m).id == m.vendor
        assert m.context_window > 0 and m.max_output > 0, m.id
        assert m.price_in >= 0 and m.price_out >= 0, m.id
        assert set(m.strengths) <= set(CATEGORIES), m.id
        assert m.model and m.name, m.id


def test_every_remote_vendor_has_a_key_env_and_https_url() -> None:
    cat = load_catalog(Settings(env={}))
    for v in cat.vendors.values():
        if v.local:
            assert v.key_env is None, v.id
        else:
            assert v.key_env and v.key_env.isupper(), v.id
            assert v.base_url.startswith("https://"), v.id
    assert {v.wire for v in cat.vendors.values()} >= {"openai", "anthropic", "embedded"}
    assert cat.vendors["anthropic"].wire == "anthropic"


def test_unknown_model_is_input_error_with_suggestion() -> None:
    cat = load_catalog(Settings(env={}))
    with pytest.raises(InputError) as exc:
        cat.model("deepseek-chat")
    assert "deepseek/deepseek-chat" in str(exc.value)


# ---- user overrides ---------------------------------------------------------------------------------

USER_CONFIG = """
default_model = "acme/rocket-1"

[vendors.acme]
name = "Acme AI"
base_url = "https://api.acme.example/v1"
key_env = "ACME_API_KEY"

[[models]]
id = "acme/rocket-1"
context_window = 32000
price_in = 0.5
price_out = 1.5
strengths = ["code", "chitchat"]

[[models]]
id = "deepseek/deepseek-chat"
price_in = 9.5
"""


def test_user_config_adds_vendor_and_model_and_overrides_price(tmp_path: Path) -> None:
    builtin = load_catalog(Settings(env={})).model("deepseek/deepseek-chat")
    cat = load_catalog(settings_from(USER_CONFIG, tmp_path))
    acme = cat.vendors["acme"]
    assert (acme.name, acme.wire, acme.key_env) == ("Acme AI", "openai", "ACME_API_KEY")
    rocket = cat.model("acme/rocket-1")
    assert (rocket.vendor, rocket.model, rocket.context_window) == ("acme", "rocket-1", 32000)
    assert (rocket.price_in, rocket.price_out, rocket.strengths) == (0.5, 1.5, ("code", "chitchat"))
    ds = cat.model("deepseek/deepseek-chat")
    assert ds.price_in == 9.5
    assert ds.price_out == builtin.price_out  # fields not overridden keep their built-in values
    assert ds.context_window == builtin.context_window
    assert len(cat) == len(load_catalog(Settings(env={}))) + 1


def test_user_config_overrides_vendor_field(tmp_path: Path) -> None:
    cat = load_catalog(settings_from('[vendors.deepseek]\nbase_url = "http://127.0.0.1:9/v1"\n', tmp_path))
    assert cat.vendors["deepseek"].base_url == "http://127.0.0.1:9/v1"
    assert cat.vendors["deepseek"].key_env == "DEEPSEEK_API_KEY"


def test_parse_config_sections(tmp_path: Path) -> None:
    s = settings_from('[http]\ntimeout_s = 5\nmax_attempts = 2\n[keys]\nqwen = "sk-q"\n', tmp_path)
    assert s.http.timeout_s == 5.0 and s.http.max_attempts == 2
    assert s.api_key("qwen", "DASHSCOPE_API_KEY") == "sk-q"


def test_key_lookup_order() -> None:
    s = Settings(FileConfig(keys={"qwen": "from-file"}), env={"DASHSCOPE_API_KEY": "from-env", "X_KEY": "x"})
    assert s.api_key("qwen", "DASHSCOPE_API_KEY") == "from-file"
    assert s.api_key("other", "X_KEY") == "x"
    assert s.api_key("other", None) is None
    assert s.api_key("other", "UNSET_KEY") is None


# ---- invalid configs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("colour = 'blue'\n", "colour"),
    ("[http]\ntimeout_s = -1\n", "http.timeout_s"),
    ("[http]\nmax_attempts = 0\n", "http.max_attempts"),
    ("[http]\ntypo_s = 1\n", "http.typo_s"),
    ("default_model = 3\n", "default_model"),
], ids=["unknown-top-level", "negative-timeout", "zero-attempts", "unknown-http-key", "wrong-type"])
def test_invalid_config_names_file_and_key(text: str, key: str, tmp_path: Path) -> None:
    path = str(tmp_path / "bad.toml")
    with pytest.raises(ConfigError) as exc:
        parse_config(text, path)
    assert exc.value.file == path and exc.value.key == key
    assert path in str(exc.value)
    assert f"'{key}'" in str(exc.value)


def test_unknown_key_message() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config("colour = 'blue'\n", "coe.toml")


def test_bad_toml_names_file() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config("[http\ntimeout_s = = 1\n", "/etc/coe/broken.toml")
    assert "/etc/coe/broken.toml" in str(exc.value)
    assert "TOML" in str(exc.value)


@pytest.mark.parametrize(("text", "key"), [
    ('[[models]]\nid = "nowhere/x"\ncontext_window = 10\n', "models.nowhere/x.vendor"),
    ('[[models]]\nid = "deepseek/deepseek-chat"\nstrengths = ["cooking"]\n', "models.deepseek/deepseek-chat.strengths"),
    ('[[models]]\nid = "deepseek/deepseek-chat"\nprice_out = -1\n', "models.deepseek/deepseek-chat.price_out"),
    ('[[models]]\nid = "acme/x"\nvendor = "deepseek"\n', "models.acme/x.context_window"),
    ('[[models]]\nname = "no id"\n', "models[0].id"),
    ('[vendors.acme]\nname = "Acme"\n', "vendors.acme.base_url"),
    ('[vendors.acme]\nname = "A"\nbase_url = "https://a"\nwire = "grpc"\n', "vendors.acme.wire"),
], ids=["unknown-vendor", "unknown-category", "negative-price", "missing-field", "no-id", "vendor-no-url",
        "bad-wire"])
def test_invalid_catalog_override_names_file_and_key(text: str, key: str, tmp_path: Path) -> None:
    settings = settings_from(text, tmp_path, "user.toml")
    with pytest.raises(ConfigError) as exc:
        load_catalog(settings)
    assert exc.value.key == key
    assert str(tmp_path / "user.toml") in str(exc.value)
    assert f"'{key}'" in str(exc.value)


def test_unknown_category_message_lists_it(tmp_path: Path) -> None:
    text = '[[models]]\nid = "deepseek/deepseek-chat"\nstrengths = ["cooking"]\n'
    with pytest.raises(ConfigError, match="cooking"):
        load_catalog(settings_from(text, tmp_path))


# ---- finding and loading the config file --------------------------------------------------------------


def test_explicit_missing_config_is_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as exc:
        load_settings(missing, env={})
    assert str(missing) in str(exc.value)


def test_missing_file_from_env_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="COE_CONFIG"):
        load_settings(env={"COE_CONFIG": str(tmp_path / "gone.toml")})


def test_find_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    explicit, from_env, local = tmp_path / "explicit.toml", tmp_path / "env.toml", tmp_path / "coe.toml"
    assert find_config_path(None, env={}) is None
    local.write_text('default_model = "qwen/qwen-plus"\n')
    assert find_config_path(None, env={}) == local
    from_env.write_text('default_model = "moonshot/moonshot-v1-8k"\n')
    assert find_config_path(None, env={"COE_CONFIG": str(from_env)}) == from_env
    explicit.write_text('default_model = "zhipu/glm-4-flash"\n')
    assert find_config_path(explicit, env={"COE_CONFIG": str(from_env)}) == explicit

    assert load_settings(env={}).file.default_model == "qwen/qwen-plus"
    assert load_settings(env={"COE_CONFIG": str(from_env)}).file.default_model == "moonshot/moonshot-v1-8k"
    s = load_settings(str(explicit), env={"COE_CONFIG": str(from_env)})
    assert s.file.default_model == "zhipu/glm-4-flash"
    assert s.path == explicit


def test_no_config_anywhere_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={"COE_HOME": str(tmp_path / "h")})
    assert s.path is None
    assert s.file == FileConfig()
    assert s.models_dir == tmp_path / "h" / "models"


def test_invalid_file_on_disk_names_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "coe.toml").write_text("[http]\ntimeout_s = -5\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(env={})
    assert str(tmp_path / "coe.toml") in str(exc.value)
    assert "http.timeout_s" in str(exc.value)


def test_settings_repr_hides_keys(tmp_path: Path) -> None:
    secret = "sk-very-secret-123456"
    s = settings_from(f'[keys]\ndeepseek = "{secret}"\nqwen = "{secret}-2"\n', tmp_path)
    assert s.api_key("deepseek", None) == secret
    for text in (repr(s), str(s)):
        assert secret not in text
    assert "2 hidden" in repr(s)


async def test_reasoning_models_send_max_completion_tokens() -> None:
    import json as _json

    from coe.providers.http import MockResponse, MockTransport, RetryPolicy, Timeouts
    from coe.providers.openai_compat import OpenAIChatAdapter
    from coe.providers.remote import HttpProvider
    from coe.types import ChatRequest

    catalog = load_catalog()
    bodies: list[dict[str, object]] = []

    def handler(req: object) -> MockResponse:
        bodies.append(_json.loads(req.body))  # type: ignore[attr-defined]
        return MockResponse(200, b'{"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}')

    for mid in ("openai/o3-mini", "openai/gpt-4o"):
        info = catalog.model(mid)
        p = HttpProvider(info, catalog.vendor_of(info), OpenAIChatAdapter(), MockTransport(handler),
                         base_url="https://x/v1", key="k", retry=RetryPolicy(max_attempts=1),
                         timeouts=Timeouts(1, 1), total_timeout_s=5)
        await p.complete(ChatRequest.of(mid, "hi", max_tokens=10))
    assert bodies[0].get("max_completion_tokens") == 10 and "max_tokens" not in bodies[0]
    assert bodies[1].get("max_tokens") == 10 and "max_completion_tokens" not in bodies[1]
