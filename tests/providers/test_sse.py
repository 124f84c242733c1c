"""SSEDecoder fed raw bytes: line ends, chunk boundaries, UTF-8 splits, fields, BOM, flush."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coe.providers.sse import SSEDecoder, SSEEvent, aiter_sse


def decode(chunks: Sequence[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    out.extend(dec.flush())
    return out


def split_at(raw: bytes, points: Sequence[int]) -> list[bytes]:
    cuts = [0, *sorted(points), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(cuts)]


# ---- line ends ------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(eol: str) -> None:
    raw = f"data: one{eol}{eol}event: tick{eol}data: two{eol}{eol}".encode()
    assert decode([raw]) == [SSEEvent("one"), SSEEvent("two", event="tick")]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_fed_byte_by_byte(eol: str) -> None:
    raw = f"data: a{eol}data: b{eol}{eol}data: c{eol}{eol}".encode()
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    assert decode(chunks) == [SSEEvent("a\nb"), SSEEvent("c")]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # If the split CRLF were read as CR + LF, the LF would be a blank line and end the event early.
    chunks = [b"data: first\r", b"\ndata: second\r\n\r\n"]
    assert decode(chunks) == [SSEEvent("first\nsecond")]


def test_crlf_split_blank_line_dispatches_once() -> None:
    chunks = [b"data: x\r\n\r", b"\ndata: y\r\n\r\n"]
    assert decode(chunks) == [SSEEvent("x"), SSEEvent("y")]


def test_lone_cr_at_chunk_end_followed_by_text_is_still_a_line_end() -> None:
    chunks = [b"data: a\r", b"data: b\r\r"]
    assert decode(chunks) == [SSEEvent("a\nb")]


def test_empty_chunk_between_cr_and_lf() -> None:
    chunks = [b"data: a\r", b"", b"\ndata: b\r\n\r\n"]
    assert decode(chunks) == [SSEEvent("a\nb")]


# ---- UTF-8 --------------------------------------------------------------------------------------


def test_multibyte_utf8_split_at_every_byte_boundary() -> None:
    raw = "data: 你好，世界\n\n".encode()
    for i in range(1, len(raw)):
        assert decode([raw[:i], raw[i:]]) == [SSEEvent("你好，世界")], f"split at byte {i}"


def test_multibyte_utf8_byte_by_byte() -> None:
    raw = "event: 消息\ndata: 你好\ndata: 🙂\n\n".encode()
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == [SSEEvent("你好\n🙂", event="消息")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode([b"data: a\xffb\n\n"]) == [SSEEvent("a\ufffdb")]


# ---- fields -------------------------------------------------------------------------------------


def test_comments_are_ignored() -> None:
    raw = b": ping\n\n:another comment\ndata: x\n: mid-event comment\n\n"
    assert decode([raw]) == [SSEEvent("x")]


def test_multi_line_data_joined_with_newline() -> None:
    raw = b"data: line one\ndata: line two\ndata:\ndata: line four\n\n"
    assert decode([raw]) == [SSEEvent("line one\nline two\n\nline four")]


def test_event_id_retry_fields() -> None:
    raw = b"event: update\nid: 42\nretry: 1500\ndata: {}\n\n"
    assert decode([raw]) == [SSEEvent("{}", event="update", id="42", retry=1500)]


def test_event_name_resets_after_dispatch_but_id_persists() -> None:
    raw = b"event: a\nid: 7\ndata: 1\n\ndata: 2\n\n"
    assert decode([raw]) == [SSEEvent("1", event="a", id="7"), SSEEvent("2", event="message", id="7")]


def test_bad_retry_and_id_with_nul_are_ignored() -> None:
    raw = b"retry: soon\nid: a\x00b\ndata: x\n\n"
    assert decode([raw]) == [SSEEvent("x", id=None, retry=None)]


def test_event_without_data_is_not_dispatched() -> None:
    raw = b"event: lonely\n\ndata: x\n\n"
    assert decode([raw]) == [SSEEvent("x")]  # the event name of the data-less block does not leak


def test_unknown_fields_ignored() -> None:
    assert decode([b"foo: bar\ndata: x\nbaz\n\n"]) == [SSEEvent("x")]


def test_data_without_space_after_colon() -> None:
    assert decode([b"data:x\n\n"]) == [SSEEvent("x")]


def test_only_one_leading_space_is_stripped() -> None:
    assert decode([b"data:  two spaces\n\n"]) == [SSEEvent(" two spaces")]


def test_field_with_no_colon_is_empty_value() -> None:
    assert decode([b"data\n\n"]) == [SSEEvent("")]


def test_bom_at_start_is_dropped() -> None:
    assert decode([b"\xef\xbb\xbfdata: x\n\n"]) == [SSEEvent("x")]


def test_bom_split_across_chunks_is_dropped() -> None:
    assert decode([b"\xef", b"\xbb", b"\xbfdata: x\n\n"]) == [SSEEvent("x")]


def test_bom_later_in_stream_is_kept() -> None:
    assert decode([b"data: x\n\n", "data: \ufeffy\n\n".encode()]) == [SSEEvent("x"), SSEEvent("\ufeffy")]


# ---- flush --------------------------------------------------------------------------------------


def test_event_without_trailing_blank_line_is_dropped_by_flush() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: done\n\ndata: unterminated\n") == [SSEEvent("done")]
    assert dec.flush() == []


def test_last_line_without_terminator_is_dropped_by_flush() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: partial") == []
    assert dec.flush() == []


def test_events_only_come_out_when_complete() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert dec.feed(b"\n") == [SSEEvent("a")]


async def test_aiter_sse() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for c in (b"data: ", "你".encode()[:2], "你".encode()[2:] + b"\n", b"\ndata: tail"):
            yield c

    assert [ev async for ev in aiter_sse(chunks())] == [SSEEvent("你")]


# ---- property: chunking never changes the result ----------------------------------------------------

line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20)
cjk_text = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=8)
data_line = st.one_of(line_text, cjk_text, st.tuples(line_text, cjk_text).map("".join))
event_st = st.tuples(st.one_of(st.just(""), line_text), st.lists(data_line, min_size=1, max_size=4))


def encode(events: Sequence[tuple[str, list[str]]], eol: str) -> bytes:
    out = []
    for name, lines in events:
        if name:
            out.append(f"event: {name}{eol}")
        out.extend(f"data: {line}{eol}" for line in lines)
        out.append(eol)
    return "".join(out).encode()


@settings(max_examples=300, deadline=None)
@given(events=st.lists(event_st, max_size=6), eol=st.sampled_from(["\n", "\r\n", "\r"]), data=st.data())
def test_chunking_does_not_change_events(events: list[tuple[str, list[str]]], eol: str,
                                         data: st.DataObject) -> None:
    raw = encode(events, eol)
    expected = [SSEEvent("\n".join(lines), event=name or "message") for name, lines in events]
    assert decode([raw]) == expected
    points = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), unique=True, max_size=12)) if raw else []
    assert decode(split_at(raw, points)) == expected
