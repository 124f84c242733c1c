"""The aiohttp transport against a real loopback upstream: every fault ends in an answer or a clear
error within the timeout — never a hang."""

from __future__ import annotations

import asyncio
import time

import pytest

from coe.catalog import ModelInfo, VendorInfo
from coe.errors import BadResponseError, ProviderTimeout, RateLimitedError, UnavailableError
from coe.providers.http import AiohttpTransport, RetryPolicy, Timeouts
from coe.providers.openai_compat import OpenAIChatAdapter
from coe.providers.remote import HttpProvider
from coe.testing import Behaviour, FakeUpstream
from coe.types import ChatRequest, TextDelta

INFO = ModelInfo(id="up/m", vendor="up", model="m-wire", name="m", context_window=4096, max_output=1024,
                 price_in=1.0, price_out=2.0)
VENDOR = VendorInfo(id="up", name="Upstream", base_url="http://unused", key_env="UP_KEY")


async def _noop_sleep(_s: float) -> None:
    return None


def provider(base_url: str, transport: AiohttpTransport, *, read_s: float = 5.0, total_s: float = 10.0,
             attempts: int = 3) -> HttpProvider:
    return HttpProvider(INFO, VENDOR, OpenAIChatAdapter(), transport, base_url=base_url, key="sk-secret-xyz",
                        retry=RetryPolicy(max_attempts=attempts, sleep=_noop_sleep),
                        timeouts=Timeouts(connect_s=2.0, read_s=read_s), total_timeout_s=total_s)


REQ = ChatRequest.of("up/m", "hi")


async def _text(p: HttpProvider) -> str:
    return "".join([ev.text async for ev in p.stream(REQ) if isinstance(ev, TextDelta)])


async def test_stream_and_complete_over_real_http() -> None:
    t = AiohttpTransport()
    async with FakeUpstream([Behaviour(text="你好, world! " * 3)]) as up:
        p = provider(up.base_url, t)
        assert await _text(p) == "你好, world! " * 3
        done = await p.complete(REQ)
        assert done.text == "你好, world! " * 3 and done.usage.input_tokens == 10
        sent = up.requests[0]
        assert sent["body"]["model"] == "m-wire"  # type: ignore[index]
        assert sent["headers"]["Authorization"] == "Bearer sk-secret-xyz"  # type: ignore[index]
    await t.aclose()


async def test_500_then_success_and_429_retry_after() -> None:
    t = AiohttpTransport()
    async with FakeUpstream([Behaviour("status", status=500), Behaviour("status", status=429, retry_after="0"),
                             Behaviour(text="ok")]) as up:
        assert await _text(provider(up.base_url, t)) == "ok"
        assert len(up.requests) == 3
    async with FakeUpstream([Behaviour("status", status=429, retry_after="1")]) as up:
        with pytest.raises(RateLimitedError, match="up/m"):
            await _text(provider(up.base_url, t))
    await t.aclose()


async def test_cut_stream_keeps_partial_text() -> None:
    t = AiohttpTransport()
    async with FakeUpstream([Behaviour("cut", text="abcdefghijkl", chunk_chars=2, cut_after_chunks=3)]) as up:
        with pytest.raises(BadResponseError) as ei:
            await _text(provider(up.base_url, t))
        assert ei.value.partial == "abcdef"
    await t.aclose()


async def test_garbage_sse_is_a_bad_response() -> None:
    t = AiohttpTransport()
    async with FakeUpstream([Behaviour("garbage")]) as up:
        with pytest.raises(BadResponseError, match="malformed"):
            await _text(provider(up.base_url, t))
        with pytest.raises(BadResponseError, match="malformed"):
            await provider(up.base_url, t).complete(REQ)
    await t.aclose()


async def test_hang_and_slow_loris_end_within_the_timeout() -> None:
    t = AiohttpTransport()
    async with FakeUpstream([Behaviour("hang")]) as up:
        t0 = time.perf_counter()
        with pytest.raises(ProviderTimeout):
            await _text(provider(up.base_url, t, read_s=0.3, attempts=2))
        assert time.perf_counter() - t0 < 5
    async with FakeUpstream([Behaviour("slow_loris")]) as up:
        t0 = time.perf_counter()
        with pytest.raises(ProviderTimeout):
            await _text(provider(up.base_url, t, read_s=30, total_s=1.5))
        assert time.perf_counter() - t0 < 5
    await t.aclose()


async def test_connection_refused_is_unavailable_after_retries() -> None:
    t = AiohttpTransport()
    with pytest.raises(UnavailableError, match="after 3 attempts") as ei:
        await provider("http://127.0.0.1:9/v1", t).complete(REQ)
    assert "sk-secret-xyz" not in str(ei.value)
    await t.aclose()


async def test_many_concurrent_streams_share_one_transport() -> None:
    t = AiohttpTransport()
    async with FakeUpstream([Behaviour(text="x" * 40, token_delay_s=0.01)]) as up:
        p = provider(up.base_url, t)
        texts = await asyncio.gather(*[_text(p) for _ in range(50)])
        assert texts == ["x" * 40] * 50
    await t.aclose()
