"""Fuzzing the SSE decoder and the streaming provider on arbitrary bytes: no exception escapes but the
error tree, chunking never changes what is decoded, and lines never carry line-end characters."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coe.catalog import ModelInfo, VendorInfo
from coe.errors import ProviderError
from coe.providers.http import MockResponse, MockTransport, RetryPolicy, Timeouts, TransportError
from coe.providers.openai_compat import OpenAIChatAdapter
from coe.providers.remote import HttpProvider
from coe.providers.sse import SSEDecoder, SSEEvent
from coe.types import ChatRequest, TextDelta

FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# Bytes that look like SSE often enough to reach deep into the decoder, and pure noise.
sse_atoms = st.sampled_from([b"data: ", b"data:", b"event: x", b"id: 7", b"retry: 12", b"retry: \xc2\xb2", b": c",
                             b"\n", b"\r", b"\r\n", b"\n\n", b"\xef\xbb\xbf", b"{", b"}", b"\"", b"[DONE]",
                             "你好".encode(), b"\xff", b"\x00", b"\xe4\xbd", b" "])
sse_like = st.lists(st.one_of(sse_atoms, st.binary(max_size=8)), max_size=60).map(b"".join)
any_bytes = st.one_of(sse_like, st.binary(max_size=400))


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    return out + dec.flush()


def split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(raw)) for c in cuts})
    return [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]


@FAST
@given(any_bytes, st.lists(st.integers(0, 400), max_size=12))
def test_decoder_never_raises_and_chunking_does_not_matter(raw: bytes, cuts: list[int]) -> None:
    whole = decode([raw])
    assert decode(split(raw, cuts)) == whole
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == whole
    for ev in whole:
        assert "\r" not in ev.data and "\n" not in ev.event and ev.event
        assert ev.retry is None or ev.retry >= 0


line_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20)
event_blocks = st.lists(st.one_of(
    line_text.map(lambda t: f"data: {t}\n\n"),
    st.sampled_from(["event: e\n", "id: 3\n", ": keep-alive\n\n", "data:x\n\n", "data: a\ndata: b\n\n", "\n",
                     "retry: 5\n"])), min_size=1, max_size=12)


@FAST
@given(event_blocks, st.lists(st.booleans(), max_size=12))
def test_whole_event_chunks_decode_like_bytes_one_at_a_time(blocks: list[str], glue: list[bool]) -> None:
    """Chunks made of whole `data:` events take a fast path; it must agree with the general one."""
    chunks: list[bytes] = []
    for i, b in enumerate(blocks):  # one block per chunk, or glued to the previous one
        if chunks and i - 1 < len(glue) and glue[i - 1]:
            chunks[-1] += b.encode()
        else:
            chunks.append(b.encode())
    raw = b"".join(chunks)
    assert decode(chunks) == decode([raw[i : i + 1] for i in range(len(raw))])


INFO = ModelInfo(id="up/m", vendor="up", model="m", name="m", context_window=4096)
VENDOR = VendorInfo(id="up", name="Up", base_url="http://unused", key_env="UP_KEY")


async def _no_sleep(_s: float) -> None:
    return None


def stream_of(chunks: list[bytes], fail: TransportError | None = None) -> tuple[str, BaseException | None]:
    transport = MockTransport(lambda req: MockResponse(200, chunks=chunks, fail_after=fail,
                                                       headers={"content-type": "text/event-stream"}))
    p = HttpProvider(INFO, VENDOR, OpenAIChatAdapter(), transport, base_url="http://x/v1", key="sk-fuzz-key",
                     retry=RetryPolicy(max_attempts=1, sleep=_no_sleep), timeouts=Timeouts(1, 1), total_timeout_s=5)

    async def run() -> str:
        return "".join([ev.text async for ev in p.stream(ChatRequest.of("up/m", "q")) if isinstance(ev, TextDelta)])

    try:
        return asyncio.run(run()), None
    except ProviderError as e:  # the only failure a caller may see
        assert "sk-fuzz-key" not in str(e)
        return "", e


json_chunk = st.fixed_dictionaries({}, optional={
    "choices": st.one_of(st.none(), st.integers(), st.lists(st.fixed_dictionaries({}, optional={
        "delta": st.one_of(st.none(), st.text(max_size=5), st.fixed_dictionaries({}, optional={
            "content": st.one_of(st.none(), st.text(max_size=10), st.integers(), st.lists(st.integers(), max_size=2)),
            "reasoning_content": st.one_of(st.none(), st.text(max_size=10), st.booleans())})),
        "finish_reason": st.one_of(st.none(), st.sampled_from(["stop", "length"]), st.integers())}), max_size=2)),
    "usage": st.one_of(st.none(), st.text(max_size=3), st.fixed_dictionaries({}, optional={
        "prompt_tokens": st.one_of(st.integers(-5, 10**6), st.none(), st.text(max_size=3), st.floats()),
        "completion_tokens": st.one_of(st.integers(0, 10**6), st.none())})),
    "error": st.one_of(st.text(max_size=10), st.fixed_dictionaries({"message": st.text(max_size=10)})),
})


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(json_chunk.map(lambda d: __import__("json").dumps(d).encode()), any_bytes), max_size=8),
       st.booleans(), st.booleans())
def test_provider_stream_ends_in_text_or_a_provider_error(parts: list[bytes], done: bool, broken: bool) -> None:
    body = b"".join(b"data: " + p + b"\n\n" for p in parts) + (b"data: [DONE]\n\n" if done else b"")
    fail = TransportError("broken", "fuzz") if broken else None
    text, err = stream_of([body[i : i + 17] for i in range(0, len(body), 17)] or [b""], fail)
    assert isinstance(text, str)
    if err is not None:
        assert str(err).startswith("up/m:")
