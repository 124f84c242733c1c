"""Chinese-aware chunking: split on sentence ends (。！？；… and .!?), pack sentences into chunks, keep the
paragraph breaks between them."""

from __future__ import annotations

import itertools
import re

_SENT = re.compile(r"(?<=[。！？；!?;])|(?<=[.])(?=\s)")
_PARA = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LATIN_START = re.compile(r"[A-Za-z0-9]")
_LATIN_END = re.compile(r"[A-Za-z0-9.!?]$")
MAX_CHARS = 400
OVERLAP_SENTENCES = 1

Piece = tuple[bool, str]  # (starts a paragraph, sentence)


def sentences(text: str) -> list[str]:
    return [s for _, s in _pieces(text)]


def _pieces(text: str) -> list[Piece]:
    out: list[Piece] = []
    for para in _PARA.split(text):
        first = True
        for s in _SENT.split(para):
            s = s.strip()
            if s:
                out.append((first, s))
                first = False
    return out


def _sep(prev: str, piece: Piece) -> str:
    """Between two sentences: a blank line across paragraphs, a space between Latin sentences, else nothing
    (CJK)."""
    if piece[0]:
        return "\n\n"
    return " " if _LATIN_START.match(piece[1][:1]) and _LATIN_END.search(prev) else ""


def _join(parts: list[Piece]) -> str:
    res = [parts[0][1]] if parts else []
    for prev, piece in itertools.pairwise(parts):
        res.append(_sep(prev[1], piece))
        res.append(piece[1])
    return "".join(res)


def chunk_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Chunks of whole sentences up to ``max_chars`` (separators included; a longer sentence is cut), one
    sentence of overlap, paragraph breaks kept as blank lines."""
    out: list[str] = []
    cur: list[Piece] = []
    size = 0
    for starts, s in _pieces(text):
        while len(s) > max_chars:  # a very long "sentence" (no punctuation): hard cut
            if cur:
                out.append(_join(cur))
                cur, size = [], 0
            out.append(s[:max_chars])
            s, starts = s[max_chars:], False
        piece = (starts, s)
        if cur and size + len(_sep(cur[-1][1], piece)) + len(s) > max_chars:
            out.append(_join(cur))
            cur = cur[-OVERLAP_SENTENCES:] if OVERLAP_SENTENCES else []
            size = len(_join(cur))
            if cur and size + len(_sep(cur[-1][1], piece)) + len(s) > max_chars:
                cur, size = [], 0
        size += (len(_sep(cur[-1][1], piece)) if cur else 0) + len(s)
        cur.append(piece)
    if cur:
        out.append(_join(cur))
    return [c for c in out if c.strip()]
