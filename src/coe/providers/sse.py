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
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        buf = self._buf + text
        out: list[SSEEvent] = []
        start = 0
        i = 0
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch == "\r" or ch == "\n":
                ev = self._line(buf[start:i])
                if ev:
                    out.append(ev)
                if ch == "\r":
                    if i + 1 < n and buf[i + 1] == "\n":
                        i += 1
                    elif i + 1 == n:
                        self._pending_cr = True
                start = i + 1
            i += 1
        self._buf = buf[start:]
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
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
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        ev = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id,
                      retry=self._retry)
        self._data, self._event = [], ""
        return ev


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    dec = SSEDecoder()
    async for chunk in chunks:
        for ev in dec.feed(chunk):
            yield ev
    for ev in dec.flush():
        yield ev
