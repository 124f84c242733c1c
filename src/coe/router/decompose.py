"""Split a multi-intent query into sub-tasks ("翻译这段话,然后写个Python函数" → two tasks).

Rules first (connectives in Chinese and English); an LLM planner can be configured and falls back to the
rules on any failure. A query is split only when its parts route to different categories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from coe.router.base import RouteDecision, Router

_CONNECTIVES = re.compile(
    r"\s*(?:[,，;；。.!！?？]\s*)?(?:然后|接着|之后再|之后|随后|再帮我|另外|此外|并且再|同时再|顺便|最后再)\s*"
    r"|\s*[,.;；]\s*(?:and\s+)?then\b[,:]?\s*"
    r"|\s*[,.;]?\s*\b(?:and then|after that|afterwards|additionally|and also)\b[,:]?\s*"
    r"|\s*[;；]\s*",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"(?:^|\n)\s*(?:\d+[.)、]|[-*•])\s+")
MIN_PART_CHARS = 4
MAX_PARTS = 5


@dataclass(frozen=True)
class SubTask:
    text: str
    route: RouteDecision


def split_rules(query: str) -> list[str]:
    text = query.strip()
    parts = [p for p in _NUMBERED.split(text) if p.strip()] if _NUMBERED.search(text) else [text]
    if len(parts) == 1:
        parts = _CONNECTIVES.split(text)
    parts = [p.strip(" ,，;；。") for p in parts if p and len(p.strip(" ,，;；。")) >= MIN_PART_CHARS]
    return parts[:MAX_PARTS] if len(parts) > 1 else [text]


def decompose(query: str, router: Router, parts: list[str] | None = None) -> list[SubTask]:
    """Sub-tasks when the query has several intents in different categories; [] when it has one."""
    parts = parts or split_rules(query)
    if len(parts) < 2:
        return []
    routes = router.route_batch(parts)
    if len({r.category for r in routes}) < 2:
        return []
    return [SubTask(p, r) for p, r in zip(parts, routes, strict=True)]
