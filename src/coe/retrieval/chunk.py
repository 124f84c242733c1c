"""Chinese-aware chunking: split on sentence ends (。！？；… and .!?), pack sentences into chunks."""

from __future__ import annotations

import re

_SENT = re.compile(r"(?<=[。！？；!?;])|(?<=[.])(?=\s)|\n{2,}")
MAX_CHARS = 400
OVERLAP_SENTENCES = 1


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s and s.strip()]


def chunk_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Chunks of whole sentences up to ``max_chars`` (a longer sentence is cut), one sentence of overlap."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for s in sentences(text):
        while len(s) > max_chars:  # a very long "sentence" (no punctuation): hard cut
            if cur:
                out.append("".join(_join(cur)))
                cur, size = [], 0
            out.append(s[:max_chars])
            s = s[max_chars:]
        if size + len(s) > max_chars and cur:
            out.append("".join(_join(cur)))
            cur = cur[-OVERLAP_SENTENCES:] if OVERLAP_SENTENCES else []
            size = sum(len(x) for x in cur)
        cur.append(s)
        size += len(s)
    if cur:
        out.append("".join(_join(cur)))
    return [c for c in out if c.strip()]


def _join(parts: list[str]) -> list[str]:
    """Latin sentences get a space between them; CJK ones don't."""
    res: list[str] = []
    for p in parts:
        if res and re.match(r"[A-Za-z0-9]", p[:1]) and re.search(r"[A-Za-z0-9.!?]$", res[-1]):
            res.append(" ")
        res.append(p)
    return res
