"""HttpProvider + AnthropicAdapter against a MockTransport fed raw Messages-API SSE bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from coe.catalog import ModelInfo, VendorInfo
from coe.errors import AuthError, BadResponseError, UnavailableError
from coe.providers.anthropic import ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS, AnthropicAdapter
from coe.providers.http import HttpRequest, MockResponse, MockTransport, RetryPolicy, Timeouts
from coe.providers.remote import HttpProvider
from coe.types import ChatRequest, Finish, Message, ProviderEvent, ReasoningDelta, TextDelta, Usage, UsageReport

KEY = "sk-ant-api03-Zq9x8w7v6u5t4s3r"
BASE_URL = "https://api.anthropic.example/v1"
VENDOR = VendorInfo(id="anthropic", name="Anthropic", wire="anthropic", base_url=BASE_URL,
                    key_env="ANTHROPIC_API_KEY")
INFO = ModelInfo(id="anthropic/claude-sonnet-4-5", vendor="anthropic", model="claude-sonnet-4-5-20250929",
                 name="Claude Sonnet 4.5", context_window=200000, price_in=3.0, price_out=15.0)


def make(*responses: MockResponse, max_attempts: int = 3) -> tuple[HttpProvider, MockTransport, list[float]]:
    sleeps: list[float] = []
    seen = 0

    def handler(request: HttpRequest) -> MockResponse:
        nonlocal seen
        resp = responses[min(seen, len(responses) - 1)]
        seen += 1
        return resp

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    transport = MockTransport(handler)
    provider = HttpProvider(INFO, VENDOR, AnthropicAdapter(), transport, base_url=BASE_URL, key=KEY,
                            retry=RetryPolicy(max_attempts=max_attempts, sleep=fake_sleep),
                            timeouts=Timeouts(connect_s=1.0, read_s=1.0), total_timeout_s=30.0)
    return provider, transport, sleeps


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def text_delta(text: str) -> bytes:
    return event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": text}})


MESSAGE_START = event("message_start", {"type": "message_start", "message": {
    "id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5",
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 25, "output_tokens": 1}}})
BLOCK_START = event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
PING = event("ping", {"type": "ping"})
BLOCK_STOP = event("content_block_stop", {"type": "content_block_stop", "index": 0})
MESSAGE_DELTA = event("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                        "usage": {"output_tokens": 15}})
MESSAGE_STOP = event("message_stop", {"type": "message_stop"})
STREAM = b"".join([MESSAGE_START, BLOCK_START, PING, text_delta("Hello"), text_delta("，"), text_delta("世界!"),
                   BLOCK_STOP, MESSAGE_DELTA, MESSAGE_STOP])


def chunked(raw: bytes, n: int) -> MockResponse:
    return MockResponse(200, chunks=[raw[i : i + n] for i in range(0, len(raw), n)])


async def collect(provider: HttpProvider, request: ChatRequest) -> list[ProviderEvent]:
    return [ev async for ev in provider.stream(request)]


def req(**kw: Any) -> ChatRequest:
    return ChatRequest.of(INFO.id, "Hi there", system="You are terse.", **kw)


# ---- request shape ------------------------------------------------------------------------------------


async def test_request_shape() -> None:
    provider, transport, _ = make(chunked(STREAM, 50))
    await collect(provider, req(temperature=0.2))
    (r,) = transport.requests
    assert r.method == "POST"
    assert r.url == BASE_URL + "/messages"
    assert r.headers["x-api-key"] == KEY
    assert r.headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "Authorization" not in r.headers
    body = json.loads(r.body or b"")
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["system"] == "You are terse."
    assert body["messages"] == [{"role": "user", "content": "Hi there"}]  # no system role in messages
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["stream"] is True
    assert body["temperature"] == 0.2


async def test_request_max_tokens_and_multiple_system_messages() -> None:
    provider, transport, _ = make(chunked(STREAM, 50))
    request = ChatRequest(INFO.id, (Message("system", "A."), Message("user", "q1"), Message("assistant", "a1"),
                                    Message("system", "B."), Message("user", "q2")), max_tokens=128, stop=("END",))
    await collect(provider, request)
    body = json.loads(transport.requests[0].body or b"")
    assert body["system"] == "A.\n\nB."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 128
    assert body["stop_sequences"] == ["END"]


async def test_no_system_prompt_means_no_system_field() -> None:
    provider, transport, _ = make(chunked(STREAM, 50))
    await collect(provider, ChatRequest.of(INFO.id, "x"))
    assert "system" not in json.loads(transport.requests[0].body or b"")


# ---- streaming ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 17, len(STREAM)])
async def test_stream(size: int) -> None:
    provider, _, _ = make(chunked(STREAM, size))
    events = await collect(provider, req())
    assert events == [TextDelta("Hello"), TextDelta("，"), TextDelta("世界!"), UsageReport(Usage(25, 15)),
                      Finish("end_turn")]


async def test_stream_thinking_deltas() -> None:
    thinking = event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "thinking_delta", "thinking": "hmm"}})
    signature = event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "signature_delta", "signature": "abc"}})
    raw = b"".join([MESSAGE_START, thinking, signature, text_delta("ok"), MESSAGE_DELTA, MESSAGE_STOP])
    provider, _, _ = make(chunked(raw, 13))
    events = await collect(provider, req())
    assert events == [ReasoningDelta("hmm"), TextDelta("ok"), UsageReport(Usage(25, 15)), Finish("end_turn")]


async def test_stream_error_event_is_bad_response() -> None:
    err = event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    provider, _, _ = make(chunked(MESSAGE_START + text_delta("par") + err, 8))
    with pytest.raises(BadResponseError) as exc:
        await collect(provider, req())
    assert "Overloaded" in str(exc.value)
    assert INFO.id in str(exc.value)
    assert exc.value.partial == "par"


async def test_stream_without_message_stop_or_stop_reason_is_bad_response() -> None:
    provider, _, _ = make(chunked(MESSAGE_START + text_delta("cut"), 8))
    with pytest.raises(BadResponseError) as exc:
        await collect(provider, req())
    assert exc.value.partial == "cut"


async def test_stream_event_not_json_is_bad_response() -> None:
    provider, _, _ = make(chunked(MESSAGE_START + b"event: content_block_delta\ndata: {oops\n\n", 8))
    with pytest.raises(BadResponseError):
        await collect(provider, req())


# ---- non-streaming ------------------------------------------------------------------------------------

COMPLETION = {
    "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [{"type": "thinking", "thinking": "Let me see.", "signature": "x"},
                {"type": "text", "text": "Hello, "}, {"type": "tool_use", "id": "t", "name": "n", "input": {}},
                {"type": "text", "text": "世界"}],
    "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 2000, "output_tokens": 100},
}


async def test_complete_content_blocks() -> None:
    provider, transport, _ = make(MockResponse(200, body=json.dumps(COMPLETION).encode()))
    result = await provider.complete(req())
    assert result.text == "Hello, 世界"
    assert result.reasoning == "Let me see."
    assert result.usage == Usage(2000, 100)
    assert result.finish_reason == "end_turn"
    assert result.cost.total_usd == pytest.approx(2000 * 3.0 / 1e6 + 100 * 15.0 / 1e6)
    assert json.loads(transport.requests[0].body or b"")["stream"] is False


async def test_complete_without_content_list_is_bad_response() -> None:
    provider, _, _ = make(MockResponse(200, body=b'{"type": "message", "content": "nope"}'))
    with pytest.raises(BadResponseError):
        await provider.complete(req())


# ---- HTTP errors --------------------------------------------------------------------------------------

OVERLOADED = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).encode()


@pytest.mark.parametrize("call", [lambda p: p.complete(req()), lambda p: collect(p, req())], ids=["complete", "stream"])
async def test_529_overloaded_retried_then_unavailable(call: Callable[[HttpProvider], Any]) -> None:
    provider, transport, sleeps = make(MockResponse(529, body=OVERLOADED))
    with pytest.raises(UnavailableError) as exc:
        await call(provider)
    assert len(transport.requests) == 3
    assert len(sleeps) == 2
    assert exc.value.status == 529
    assert "Overloaded" in str(exc.value)
    assert INFO.id in str(exc.value)


async def test_529_then_success() -> None:
    provider, transport, _ = make(MockResponse(529, body=OVERLOADED), chunked(STREAM, 20))
    events = await collect(provider, req())
    assert events[-1] == Finish("end_turn")
    assert len(transport.requests) == 2


async def test_401_names_env_var_and_hides_key() -> None:
    body = json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                  "message": f"invalid x-api-key {KEY}"}}).encode()
    provider, _, _ = make(MockResponse(401, body=body))
    with pytest.raises(AuthError) as exc:
        await provider.complete(req())
    assert "ANTHROPIC_API_KEY" in str(exc.value)
    assert KEY not in str(exc.value)
