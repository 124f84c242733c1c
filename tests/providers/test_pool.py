"""ModelPool: availability, the default model, and calls with fallback (FakeProvider / MockTransport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coe.catalog import Catalog, ModelInfo, VendorInfo
from coe.config import FileConfig, Settings
from coe.errors import BadResponseError, InputError, MissingKeyError, ProviderError, UnavailableError
from coe.providers.fake import FakeProvider, FakeScript
from coe.providers.http import HttpRequest, MockResponse, MockTransport
from coe.providers.pool import ModelPool
from coe.providers.registry import ProviderContext, Registry, default_registry
from coe.types import ChatRequest, Fallback, Finish, PoolEvent, ProviderEvent, TextDelta

FAKE = VendorInfo(id="fake", name="Fake", wire="fake", base_url="fake://", local=True)
ACME = VendorInfo(id="acme", name="Acme", wire="openai", base_url="https://api.acme.example/v1",
                  key_env="ACME_API_KEY")


def model(mid: str) -> ModelInfo:
    vendor, _, name = mid.partition("/")
    return ModelInfo(id=mid, vendor=vendor, model=name, name=name, context_window=8192, price_in=1.0, price_out=2.0)


CATALOG = Catalog([FAKE, ACME], [model("acme/rocket"), model("fake/a"), model("fake/b"), model("fake/c")], "test")


def scripted_registry(scripts: dict[str, FakeScript]) -> tuple[Registry, dict[str, FakeProvider]]:
    made: dict[str, FakeProvider] = {}

    def factory(info: ModelInfo, vendor: VendorInfo, ctx: ProviderContext) -> FakeProvider:
        made[info.id] = FakeProvider(info, scripts.get(info.id, FakeScript(replies=[f"answer from {info.id}"])))
        return made[info.id]

    reg = default_registry()
    reg.register("fake", factory)
    return reg, made


def pool_with(scripts: dict[str, FakeScript], *, env: dict[str, str] | None = None,
              tmp_path: Path) -> tuple[ModelPool, dict[str, FakeProvider]]:
    reg, made = scripted_registry(scripts)
    settings = Settings(home=tmp_path, env=env or {})
    return ModelPool(settings, catalog=CATALOG, registry=reg, transport=MockTransport(no_network)), made


def no_network(request: HttpRequest) -> MockResponse:
    raise AssertionError(f"unexpected HTTP request to {request.url}")


async def collect(pool: ModelPool, request: ChatRequest, fallbacks: list[str]) -> list[PoolEvent]:
    return [ev async for ev in pool.stream(request, fallbacks)]


def text_of(events: list[PoolEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# ---- availability and the default model ---------------------------------------------------------------


def test_remote_model_available_only_with_key(tmp_path: Path) -> None:
    without = ModelPool(Settings(home=tmp_path, env={}))
    with_key = ModelPool(Settings(home=tmp_path, env={"DEEPSEEK_API_KEY": "sk-x"}))
    chat = without.catalog.model("deepseek/deepseek-chat")
    assert not without.is_available(chat)
    assert with_key.is_available(chat)
    deepseek_ids = {m.id for m in with_key.available() if m.vendor == "deepseek"}
    assert deepseek_ids == {m.id for m in with_key.catalog if m.vendor == "deepseek"}
    assert all(m.vendor == "deepseek" for m in with_key.available())  # no other key, no local endpoint


def test_key_in_config_file_makes_model_available(tmp_path: Path) -> None:
    pool = ModelPool(Settings(FileConfig(keys={"qwen": "sk-q"}), home=tmp_path, env={}))
    assert {m.vendor for m in pool.available()} == {"qwen"}


def test_empty_key_is_not_a_key(tmp_path: Path) -> None:
    pool = ModelPool(Settings(home=tmp_path, env={"DEEPSEEK_API_KEY": ""}))
    assert pool.available() == []


def test_embedded_unavailable_without_model_files(tmp_path: Path) -> None:
    pool = ModelPool(Settings(home=tmp_path, env={}))
    embedded = [m for m in pool.catalog if m.vendor == "embedded"]
    assert embedded
    assert not any(pool.is_available(m) for m in embedded)


def test_local_endpoint_available_when_its_base_url_env_is_set(tmp_path: Path) -> None:
    pool = ModelPool(Settings(home=tmp_path, env={"OLLAMA_BASE_URL": "http://127.0.0.1:11434/v1"}))
    assert {m.vendor for m in pool.available()} == {"ollama"}


def test_default_model_prefers_config(tmp_path: Path) -> None:
    settings = Settings(FileConfig(default_model="qwen/qwen-plus"), home=tmp_path, env={"DEEPSEEK_API_KEY": "k"})
    assert ModelPool(settings).default_model() == "qwen/qwen-plus"


def test_default_model_unknown_config_model_is_input_error(tmp_path: Path) -> None:
    pool = ModelPool(Settings(FileConfig(default_model="nope/model"), home=tmp_path, env={}))
    with pytest.raises(InputError, match="nope/model"):
        pool.default_model()


def test_default_model_is_a_remote_model_with_a_key(tmp_path: Path) -> None:
    env = {"MOONSHOT_API_KEY": "k", "OLLAMA_BASE_URL": "http://127.0.0.1:11434/v1"}
    pool = ModelPool(Settings(home=tmp_path, env=env))
    default = pool.default_model()
    assert default.startswith("moonshot/")  # the remote model wins over the configured local endpoint
    assert default == next(m.id for m in pool.catalog if m.vendor == "moonshot")


def test_nothing_available_is_input_error(tmp_path: Path) -> None:
    pool = ModelPool(Settings(home=tmp_path, env={}))
    assert pool.available() == []
    with pytest.raises(InputError) as exc:
        pool.default_model()
    assert "DEEPSEEK_API_KEY" in str(exc.value)


def test_fake_vendor_always_available(tmp_path: Path) -> None:
    pool, _ = pool_with({}, tmp_path=tmp_path)
    assert [m.id for m in pool.available()] == ["fake/a", "fake/b", "fake/c"]
    assert pool.default_model() == "fake/a"


def test_provider_is_cached(tmp_path: Path) -> None:
    pool, _ = pool_with({}, tmp_path=tmp_path)
    assert pool.provider("fake/a") is pool.provider("fake/a")
    with pytest.raises(InputError):
        pool.provider("fake/zzz")


# ---- complete with fallbacks ----------------------------------------------------------------------


async def test_complete_without_failure(tmp_path: Path) -> None:
    pool, made = pool_with({}, tmp_path=tmp_path)
    result = await pool.complete(ChatRequest.of("fake/a", "q"), ["fake/b"])
    assert (result.model, result.text, result.attempts) == ("fake/a", "answer from fake/a", ())
    assert "fake/b" not in made


async def test_complete_falls_back_and_records_attempt(tmp_path: Path) -> None:
    scripts = {"fake/a": FakeScript(replies=[UnavailableError("fake/a", "HTTP 503 down")])}
    pool, made = pool_with(scripts, tmp_path=tmp_path)
    result = await pool.complete(ChatRequest.of("fake/a", "q"), ["fake/b", "fake/c"])
    assert result.model == "fake/b"
    assert result.text == "answer from fake/b"
    assert len(result.attempts) == 1
    assert result.attempts[0].startswith("fake/a: ")
    assert "HTTP 503 down" in result.attempts[0]
    assert made["fake/b"].calls[0].model == "fake/b"  # the request is re-addressed to the fallback
    assert "fake/c" not in made


async def test_complete_last_candidate_failure_is_raised(tmp_path: Path) -> None:
    scripts = {"fake/a": FakeScript(replies=[UnavailableError("fake/a", "down")]),
               "fake/b": FakeScript(replies=[BadResponseError("fake/b", "garbled")])}
    pool, _ = pool_with(scripts, tmp_path=tmp_path)
    with pytest.raises(BadResponseError, match="garbled"):
        await pool.complete(ChatRequest.of("fake/a", "q"), ["fake/b"])


async def test_missing_key_without_fallback(tmp_path: Path) -> None:
    pool, _ = pool_with({}, tmp_path=tmp_path)
    with pytest.raises(MissingKeyError) as exc:
        await pool.complete(ChatRequest.of("acme/rocket", "q"))
    assert exc.value.env_var == "ACME_API_KEY"
    assert "ACME_API_KEY" in str(exc.value)
    assert "acme/rocket" in str(exc.value)


async def test_missing_key_moves_on_to_fallback(tmp_path: Path) -> None:
    pool, _ = pool_with({}, tmp_path=tmp_path)
    result = await pool.complete(ChatRequest.of("acme/rocket", "q"), ["fake/b"])
    assert result.text == "answer from fake/b"
    assert "ACME_API_KEY" in result.attempts[0]


async def test_remote_model_with_key_goes_through_the_transport(tmp_path: Path) -> None:
    sent: list[HttpRequest] = []

    def handler(request: HttpRequest) -> MockResponse:
        sent.append(request)
        body = {"choices": [{"message": {"content": "from acme"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
        return MockResponse(200, body=json.dumps(body).encode())

    settings = Settings(home=tmp_path, env={"ACME_API_KEY": "sk-acme"})
    pool = ModelPool(settings, catalog=CATALOG, transport=MockTransport(handler))
    result = await pool.complete(ChatRequest.of("acme/rocket", "q"))
    assert result.text == "from acme"
    assert sent[0].url == "https://api.acme.example/v1/chat/completions"
    assert sent[0].headers["Authorization"] == "Bearer sk-acme"


# ---- stream with fallbacks ------------------------------------------------------------------------


async def test_stream_falls_back_with_partial(tmp_path: Path) -> None:
    scripts = {"fake/a": FakeScript(replies=[UnavailableError("fake/a", "dropped")], fail_after_chars=7,
                                    partial_text="partial answer")}
    pool, _ = pool_with(scripts, tmp_path=tmp_path)
    events = await collect(pool, ChatRequest.of("fake/a", "q"), ["fake/b"])
    fallbacks = [e for e in events if isinstance(e, Fallback)]
    assert len(fallbacks) == 1
    fb = fallbacks[0]
    assert (fb.from_model, fb.to_model, fb.partial) == ("fake/a", "fake/b", "partial")
    assert "dropped" in fb.error
    after = events[events.index(fb) + 1 :]
    assert text_of(after) == "answer from fake/b"
    assert after[-1] == Finish("stop")


async def test_stream_fallback_partial_from_sent_text_when_error_has_none(tmp_path: Path) -> None:
    class Broken(FakeProvider):
        async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
            yield TextDelta("half ")
            yield TextDelta("done")
            raise UnavailableError(self.info.id, "cut")

    reg = Registry()
    reg.register("fake", lambda info, vendor, ctx: Broken(info) if info.id == "fake/a" else FakeProvider(info))
    pool = ModelPool(Settings(home=tmp_path, env={}), catalog=CATALOG, registry=reg,
                     transport=MockTransport(no_network))
    events = await collect(pool, ChatRequest.of("fake/a", "q"), ["fake/b"])
    (fb,) = [e for e in events if isinstance(e, Fallback)]
    assert fb.partial == "half done"
    assert text_of(events[events.index(fb) + 1 :]) == "ok"


async def test_stream_chain_of_fallbacks_and_last_failure_raises(tmp_path: Path) -> None:
    scripts = {mid: FakeScript(replies=[UnavailableError(mid, f"{mid} is down")])
               for mid in ("fake/a", "fake/b", "fake/c")}
    pool, _ = pool_with(scripts, tmp_path=tmp_path)
    events: list[PoolEvent] = []
    with pytest.raises(UnavailableError, match="fake/c is down"):
        async for ev in pool.stream(ChatRequest.of("fake/a", "q"), ["fake/b", "fake/c"]):
            events.append(ev)
    assert [(e.from_model, e.to_model) for e in events if isinstance(e, Fallback)] == \
        [("fake/a", "fake/b"), ("fake/b", "fake/c")]


async def test_stream_missing_key_falls_back(tmp_path: Path) -> None:
    pool, _ = pool_with({}, tmp_path=tmp_path)
    events = await collect(pool, ChatRequest.of("acme/rocket", "q"), ["fake/a"])
    assert isinstance(events[0], Fallback)
    assert "ACME_API_KEY" in events[0].error
    assert events[0].partial == ""
    assert text_of(events) == "answer from fake/a"


async def test_stream_missing_key_without_fallback_raises(tmp_path: Path) -> None:
    pool, _ = pool_with({}, tmp_path=tmp_path)
    with pytest.raises(MissingKeyError, match="ACME_API_KEY"):
        await collect(pool, ChatRequest.of("acme/rocket", "q"), [])


async def test_provider_error_is_base_of_pool_failures(tmp_path: Path) -> None:
    pool, _ = pool_with({"fake/a": FakeScript(replies=[UnavailableError("fake/a", "x")])}, tmp_path=tmp_path)
    with pytest.raises(ProviderError):
        await pool.complete(ChatRequest.of("fake/a", "q"))
