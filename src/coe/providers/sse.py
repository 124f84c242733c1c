"""Incremental Server-Sent Events decoder (WHATWG event-stream rules), fed raw bytes.

Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends, UTF-8 sequences split across chunks, comments,
multi-line ``data``, ``event``/``id``/``retry`` fields and a BOM.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes with :meth:`feed`; complete events come out. Call :meth:`flush` at end of stream."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._first = True
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = self._utf8.decode(chunk)
        if self._first and text:
            text = text.removeprefix("\ufeff")
            self._first = False
        return self._lines(text)

    def flush(self) -> list[SSEEvent]:
        out = self._lines(self._utf8.decode(b"", final=True))
        if self._buf:  # last line without terminator
            line, self._buf = self._buf, ""
            ev = self._line(line)
            if ev:
                out.append(ev)
        # An event without the blank line that ends it is dropped, per the spec.
        self._data, self._event = [], ""
        return out

    def _lines(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if (text[-2:] == "\n\n" and not self._buf and not self._data and not self._event and not self._pending_cr
                and "\r" not in text):  # the usual chunk: whole `data: …` events and nothing else
            parts = text[:-2].split("\n\n")
            if all(p[:6] == "data: " and "\n" not in p for p in parts):
                return [SSEEvent(p[6:], "message", self._id, self._retry) for p in parts]
        if self._pending_cr:  # the previous chunk ended in CR: a leading LF completes that CRLF
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
                if not text:
                    return []
        buf = self._buf + text if self._buf else text
        if "\r" in buf:  # normalise CRLF and lone CR to LF (str methods: no per-character Python loop)
            self._pending_cr = buf.endswith("\r")
            buf = buf.replace("\r\n", "\n").replace("\r", "\n")
        lines = buf.split("\n")
        self._buf = lines.pop()
        out: list[SSEEvent] = []
        for line in lines:
            if line:
                if line[0] != ":":
                    self._field(line)
            elif self._data:
                out.append(self._dispatch_data())
            else:
                self._event = ""
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if not line.startswith(":"):
            self._field(line)
        return None

    def _field(self, line: str) -> None:
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        return self._dispatch_data()

    def _dispatch_data(self) -> SSEEvent:
        data = self._data
        ev = SSEEvent(data=data[0] if len(data) == 1 else "\n".join(data), event=self._event or "message",
                      id=self._id, retry=self._retry)
        self._data, self._event = [], ""
        return ev


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    dec = SSEDecoder()
    async for chunk in chunks:
        for ev in dec.feed(chunk):
            yield ev
    for ev in dec.flush():
        yield ev
