"""HttpProvider + OpenAIChatAdapter against a MockTransport fed raw SSE bytes (no network, no real sleeps)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from coe.catalog import ModelInfo, VendorInfo
from coe.errors import (
    AuthError,
    BadResponseError,
    ProviderError,
    ProviderTimeout,
    RateLimitedError,
    UnavailableError,
)
from coe.providers.http import HttpRequest, MockResponse, MockTransport, RetryPolicy, Timeouts, TransportError
from coe.providers.openai_compat import OpenAIChatAdapter
from coe.providers.remote import HttpProvider
from coe.types import ChatRequest, Finish, ProviderEvent, ReasoningDelta, TextDelta, Usage, UsageReport

KEY = "sk-live-7f3a9c0d1e2b4a5f8e6d"
BASE_URL = "https://api.deepseek.example/v1"
VENDOR = VendorInfo(id="deepseek", name="DeepSeek", wire="openai", base_url=BASE_URL, key_env="DEEPSEEK_API_KEY")
INFO = ModelInfo(id="deepseek/deepseek-chat", vendor="deepseek", model="deepseek-chat-v3-wire", name="DeepSeek Chat",
                 context_window=65536, price_in=2.0, price_out=8.0)
REQ = ChatRequest.of(INFO.id, "Say hello in Chinese", system="Be brief.")

Step = MockResponse | TransportError | Callable[[], Awaitable[MockResponse]]


def scripted(*steps: Step) -> Callable[[HttpRequest], Awaitable[MockResponse]]:
    """Each request takes the next step (the last one repeats): a response, a TransportError to raise,
    or a coroutine function to await."""
    seen = 0

    async def handler(request: HttpRequest) -> MockResponse:
        nonlocal seen
        step = steps[min(seen, len(steps) - 1)]
        seen += 1
        if isinstance(step, TransportError):
            raise step
        if isinstance(step, MockResponse):
            return step
        return await step()

    return handler


def make(*steps: Step, max_attempts: int = 3, retry_after_cap_s: float = 30.0,
         total_timeout_s: float = 30.0) -> tuple[HttpProvider, MockTransport, list[float]]:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    transport = MockTransport(scripted(*steps))
    retry = RetryPolicy(max_attempts=max_attempts, base_s=0.5, cap_s=8.0, retry_after_cap_s=retry_after_cap_s,
                        sleep=fake_sleep)
    provider = HttpProvider(INFO, VENDOR, OpenAIChatAdapter(), transport, base_url=BASE_URL, key=KEY, retry=retry,
                            timeouts=Timeouts(connect_s=1.0, read_s=1.0), total_timeout_s=total_timeout_s)
    return provider, transport, sleeps


async def collect(provider: HttpProvider, request: ChatRequest = REQ) -> list[ProviderEvent]:
    return [ev async for ev in provider.stream(request)]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "deepseek-chat",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], "usage": None}


def sse(*objs: dict[str, Any] | str) -> bytes:
    return b"".join(f"data: {o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)}\n\n".encode()
                    for o in objs)


def split_every(raw: bytes, n: int) -> list[bytes]:
    return [raw[i : i + n] for i in range(0, len(raw), n)]


USAGE_CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
               "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}
STREAM = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}), chunk({"content": "，世界"}),
             chunk({"content": "!"}), chunk({}, "stop"), USAGE_CHUNK, "[DONE]")


def ok_stream(raw: bytes = STREAM, size: int = 7) -> MockResponse:
    return MockResponse(200, chunks=split_every(raw, size), headers={"Content-Type": "text/event-stream"})


def ok_json(obj: dict[str, Any]) -> MockResponse:
    return MockResponse(200, body=json.dumps(obj, ensure_ascii=False).encode())


COMPLETION = {"id": "chatcmpl-2", "object": "chat.completion", "model": "deepseek-chat",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "你好！"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}}


# ---- streaming ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 5, 7, 64, len(STREAM)])
async def test_stream_in_awkward_chunks(size: int) -> None:
    provider, _, _ = make(ok_stream(size=size))
    events = await collect(provider)
    assert events == [TextDelta("Hello"), TextDelta("，世界"), TextDelta("!"), UsageReport(Usage(12, 5)),
                      Finish("stop")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello，世界!"


async def test_stream_crlf_and_keepalive_comments() -> None:
    raw = STREAM.replace(b"\n", b"\r\n").replace(b"data: [DONE]", b": keep-alive\r\n\r\ndata: [DONE]")
    provider, _, _ = make(ok_stream(raw, size=3))
    events = await collect(provider)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hello"), TextDelta("，世界"), TextDelta("!")]
    assert events[-2:] == [UsageReport(Usage(12, 5)), Finish("stop")]


async def test_stream_reasoning_content_is_reasoning_delta() -> None:
    raw = sse(chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
              chunk({"content": None, "reasoning_content": "先想一想"}),
              chunk({"content": None, "reasoning_content": "：6×7"}),
              chunk({"content": "42", "reasoning_content": None}), chunk({}, "stop"),
              {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 30}}, "[DONE]")
    provider, _, _ = make(ok_stream(raw, size=11))
    assert await collect(provider) == [ReasoningDelta("先想一想"), ReasoningDelta("：6×7"), TextDelta("42"),
                                       UsageReport(Usage(9, 30)), Finish("stop")]


async def test_stream_finish_reason_length_is_reported() -> None:
    provider, _, _ = make(ok_stream(sse(chunk({"content": "abc"}), chunk({}, "length"), "[DONE]")))
    events = await collect(provider)
    assert events[-1] == Finish("length")


async def test_stream_request_shape() -> None:
    provider, transport, _ = make(ok_stream())
    await collect(provider, ChatRequest.of(INFO.id, "hi", max_tokens=64, temperature=0.3))
    (req,) = transport.requests
    assert req.method == "POST"
    assert req.url == BASE_URL + "/chat/completions"
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    body = json.loads(req.body or b"")
    assert body["model"] == "deepseek-chat-v3-wire"  # the wire name, not the catalog id
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.3


async def test_complete_request_shape_without_optional_params() -> None:
    provider, transport, _ = make(ok_json(COMPLETION))
    await provider.complete(REQ)
    (req,) = transport.requests
    assert req.url.endswith("/chat/completions")
    body = json.loads(req.body or b"")
    assert body["model"] == "deepseek-chat-v3-wire"
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Say hello in Chinese"}]
    assert body["stream"] is False
    assert "stream_options" not in body
    assert "max_tokens" not in body and "temperature" not in body


# ---- complete -------------------------------------------------------------------------------------


async def test_complete_text_usage_cost_finish() -> None:
    provider, _, _ = make(ok_json(COMPLETION))
    result = await provider.complete(REQ)
    assert result.model == INFO.id
    assert result.text == "你好！"
    assert result.usage == Usage(1000, 500)
    assert result.cost.input_usd == pytest.approx(1000 * 2.0 / 1e6)
    assert result.cost.output_usd == pytest.approx(500 * 8.0 / 1e6)
    assert result.cost.total_usd == pytest.approx(0.006)
    assert result.finish_reason == "stop"
    assert result.latency_ms >= 0


async def test_complete_reasoning_content() -> None:
    body = json.loads(json.dumps(COMPLETION))
    body["choices"][0]["message"]["reasoning_content"] = "thinking…"
    provider, _, _ = make(ok_json(body))
    result = await provider.complete(REQ)
    assert (result.text, result.reasoning) == ("你好！", "thinking…")


# ---- retries --------------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured() -> None:
    provider, transport, sleeps = make(MockResponse(429, body=b'{"error":{"message":"slow down"}}',
                                                    headers={"Retry-After": "2"}), ok_json(COMPLETION))
    result = await provider.complete(REQ)
    assert result.text == "你好！"
    assert sleeps == [2.0]
    assert len(transport.requests) == 2


async def test_429_retry_after_beyond_cap_is_not_waited() -> None:
    provider, transport, sleeps = make(MockResponse(429, headers={"retry-after": "120"}), ok_json(COMPLETION),
                                       retry_after_cap_s=30.0)
    with pytest.raises(RateLimitedError) as exc:
        await provider.complete(REQ)
    assert sleeps == []
    assert len(transport.requests) == 1
    assert exc.value.status == 429


async def test_429_every_time_gives_rate_limited_after_max_attempts() -> None:
    provider, transport, sleeps = make(MockResponse(429, body=b'{"error":{"message":"quota"}}'))
    with pytest.raises(RateLimitedError) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 3
    assert len(sleeps) == 2
    assert INFO.id in str(exc.value)
    assert "quota" in str(exc.value)


async def test_500_then_200_one_backoff() -> None:
    provider, transport, sleeps = make(MockResponse(500, body=b"oops"), ok_json(COMPLETION))
    assert (await provider.complete(REQ)).text == "你好！"
    assert len(transport.requests) == 2
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5  # full jitter on base_s=0.5, first attempt


async def test_503_every_time_is_unavailable() -> None:
    provider, transport, _ = make(MockResponse(503, body=b'{"error":{"message":"overloaded"}}'), max_attempts=4)
    with pytest.raises(UnavailableError) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 4
    assert INFO.id in str(exc.value)
    assert exc.value.status == 503


async def test_stream_retries_before_first_byte() -> None:
    provider, transport, sleeps = make(MockResponse(502), ok_stream())
    events = await collect(provider)
    assert events[-1] == Finish("stop")
    assert len(transport.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_client_errors_are_not_retried(status: int) -> None:
    provider, transport, sleeps = make(MockResponse(status, body=b'{"error":{"message":"bad param"}}'),
                                       ok_json(COMPLETION))
    with pytest.raises(BadResponseError) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 1
    assert sleeps == []
    assert exc.value.status == status
    assert "bad param" in str(exc.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_error_names_env_var_not_key(status: int) -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
    provider, transport, _ = make(MockResponse(status, body=body))
    with pytest.raises(AuthError) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 1
    assert "DEEPSEEK_API_KEY" in str(exc.value)
    assert KEY not in str(exc.value) and KEY not in repr(exc.value)


# ---- transport failures and timeouts ------------------------------------------------------------------


async def test_read_timeout_is_retried_then_provider_timeout() -> None:
    provider, transport, sleeps = make(TransportError("read_timeout", "no data in 1s"))
    with pytest.raises(ProviderTimeout) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 3 and len(sleeps) == 2
    assert INFO.id in str(exc.value)


async def test_read_timeout_then_success() -> None:
    provider, _, _ = make(TransportError("read_timeout"), ok_json(COMPLETION))
    assert (await provider.complete(REQ)).text == "你好！"


async def test_connect_error_is_unavailable() -> None:
    provider, transport, _ = make(TransportError("connect", "cannot connect to api.deepseek.example:443"))
    with pytest.raises(UnavailableError) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 3
    assert BASE_URL in str(exc.value)


@pytest.mark.parametrize("streaming", [False, True])
async def test_total_timeout_when_upstream_never_answers(streaming: bool) -> None:
    async def never() -> MockResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    provider, _, _ = make(never, total_timeout_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(ProviderTimeout) as exc:
        if streaming:
            await collect(provider)
        else:
            await provider.complete(REQ)
    assert time.monotonic() - t0 < 5
    assert "0.2s" in str(exc.value)


async def test_request_timeout_overrides_provider_total() -> None:
    async def never() -> MockResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    provider, _, _ = make(never, total_timeout_s=3600)
    with pytest.raises(ProviderTimeout):
        await asyncio.wait_for(provider.complete(ChatRequest.of(INFO.id, "hi", timeout_s=0.2)), 5)


# ---- malformed responses ------------------------------------------------------------------------------


async def test_non_json_body_is_bad_response() -> None:
    provider, transport, _ = make(MockResponse(200, body=b"<html>gateway</html>"))
    with pytest.raises(BadResponseError) as exc:
        await provider.complete(REQ)
    assert len(transport.requests) == 1
    assert INFO.id in str(exc.value)


async def test_json_without_choices_is_bad_response() -> None:
    provider, _, _ = make(ok_json({"object": "list", "data": []}))
    with pytest.raises(BadResponseError):
        await provider.complete(REQ)


async def test_message_that_is_not_an_object_is_bad_response() -> None:
    provider, _, _ = make(ok_json({"choices": [{"message": "hi", "finish_reason": "stop"}]}))
    with pytest.raises(BadResponseError):
        await provider.complete(REQ)


async def test_stream_chunk_not_json() -> None:
    raw = sse(chunk({"content": "Hel"})) + b"data: {not json\n\n" + sse("[DONE]")
    provider, _, _ = make(ok_stream(raw))
    with pytest.raises(BadResponseError) as exc:
        await collect(provider)
    assert exc.value.partial == "Hel"


async def test_stream_chunk_with_wrong_shape() -> None:
    provider, _, _ = make(ok_stream(sse({"choices": [1]}, "[DONE]")))
    with pytest.raises(BadResponseError):
        await collect(provider)


async def test_stream_cut_midway_keeps_partial() -> None:
    raw = sse(chunk({"content": "部分"}), chunk({"content": " answer"}))
    resp = MockResponse(200, chunks=split_every(raw, 9), fail_after=TransportError("broken", "ClientPayloadError"))
    provider, transport, _ = make(resp, ok_stream())
    got: list[ProviderEvent] = []
    with pytest.raises(BadResponseError) as exc:
        async for ev in provider.stream(REQ):
            got.append(ev)
    assert exc.value.partial == "部分 answer"
    assert got == [TextDelta("部分"), TextDelta(" answer")]
    assert len(transport.requests) == 1  # text already went out: no silent retry


async def test_stream_read_timeout_midway_is_timeout_with_partial() -> None:
    resp = MockResponse(200, chunks=[sse(chunk({"content": "abc"}))], fail_after=TransportError("read_timeout"))
    provider, _, _ = make(resp)
    with pytest.raises(ProviderTimeout) as exc:
        await collect(provider)
    assert exc.value.partial == "abc"


async def test_stream_ending_without_done_or_finish_is_bad_response() -> None:
    provider, _, _ = make(ok_stream(sse(chunk({"content": "half an ans"}))))
    with pytest.raises(BadResponseError) as exc:
        await collect(provider)
    assert exc.value.partial == "half an ans"


async def test_stream_ending_with_finish_but_no_done_is_fine() -> None:
    provider, _, _ = make(ok_stream(sse(chunk({"content": "ok"}), chunk({}, "stop"))))
    assert (await collect(provider))[-1] == Finish("stop")


async def test_stream_error_chunk_is_bad_response() -> None:
    err = {"error": {"message": "content filter triggered", "type": "invalid_request_error"}}
    provider, _, _ = make(ok_stream(sse(chunk({"content": "a"}), err)))
    with pytest.raises(BadResponseError) as exc:
        await collect(provider)
    assert "content filter triggered" in str(exc.value)
    assert exc.value.partial == "a"


# ---- the key never leaks ------------------------------------------------------------------------------


async def test_key_not_in_provider_or_request_repr() -> None:
    provider, transport, _ = make(ok_json(COMPLETION))
    await provider.complete(REQ)
    for text in (str(provider), repr(provider), str(transport.requests[0]), repr(transport.requests[0])):
        assert KEY not in text


@pytest.mark.parametrize("status", [400, 401, 429, 500])
async def test_key_echoed_in_error_body_is_redacted(status: int) -> None:
    body = json.dumps({"error": {"message": f"key {KEY} rejected"}}).encode()
    provider, _, _ = make(MockResponse(status, body=body), max_attempts=1)
    with pytest.raises(ProviderError) as exc:
        await provider.complete(REQ)
    assert KEY not in str(exc.value) and KEY not in repr(exc.value)
    assert "***" in str(exc.value)


async def test_key_echoed_in_stream_error_chunk_is_redacted() -> None:
    provider, _, _ = make(ok_stream(sse({"error": {"message": f"invalid api key {KEY}"}})))
    with pytest.raises(BadResponseError) as exc:
        await collect(provider)
    assert KEY not in str(exc.value)


async def test_key_prefix_not_leaked_when_error_detail_is_truncated() -> None:
    body = json.dumps({"error": {"message": "x" * 215 + f" bad key {KEY}"}}).encode()
    provider, _, _ = make(MockResponse(401, body=body))
    with pytest.raises(AuthError) as exc:
        await provider.complete(REQ)
    assert KEY[:12] not in str(exc.value)  # 16 chars of the key survive the cut
