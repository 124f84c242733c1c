"""Robust extraction from free-form (often small-model) answers: the final number, a JSON object, a code block."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMBER = r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-−]?\.\d+(?:[eE][-+]?\d+)?"
NUMBER_RE = re.compile(rf"(?<![\w.])(?:{_NUMBER})(?![\w])")
_TAGS = (
    re.compile(r"\\boxed\{([^{}]*)\}"),
    re.compile(r"<answer>(.*?)</answer>", re.S | re.I),
    re.compile(r"(?:final answer|answer|答案|结果)\s*(?:is|是|为)?\s*[:：=]?\s*\**\s*([^\n]*)", re.I),
)
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def to_decimal(text: str) -> Decimal | None:
    t = text.strip().replace("−", "-").replace(",", "").rstrip(".")
    try:
        d = Decimal(t)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def numbers(text: str) -> list[str]:
    """Every number in ``text``, in order, without thousands separators."""
    return [m.group(0).replace(",", "").replace("−", "-") for m in NUMBER_RE.finditer(text.replace("**", ""))]


def final_number(text: str) -> str | None:
    """The answer's number: inside an answer tag (\\boxed{}, <answer>, "Answer: …", "答案：…") if there is one,
    else the last number in the text."""
    for tag in _TAGS:
        hits = tag.findall(text)
        for hit in reversed(hits):
            nums = numbers(hit)
            if nums:
                return nums[0]
    nums = numbers(text)
    return nums[-1] if nums else None


def code_block(text: str, prefer: str = "python") -> str:
    """The longest fenced block in the preferred language (else any fence; else the whole text)."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    if not blocks:
        return text.strip("\n")
    mine = [b for lang, b in blocks if lang in (prefer, "py", "python3")] or [b for _, b in blocks]
    return str(max(mine, key=len)).strip("\n")


def json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text``: a fenced ```json block, the whole text, or the first balanced {…}."""
    candidates = [body for _, body in _FENCE.findall(text)] + [text]
    for cand in candidates:
        obj = _first_object(cand)
        if obj is not None:
            return obj
    return None


def _first_object(text: str) -> dict[str, Any] | None:
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def same_value(got: Any, want: Any) -> bool:
    """Equality for extracted values: numbers numerically (also from strings), strings ignoring case and outer
    whitespace, lists element-wise in order."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got == want or str(got).strip().lower() == str(want).lower()
    if isinstance(want, (int, float)):
        g = to_decimal(str(got)) if isinstance(got, (str, int, float)) else None
        return g is not None and abs(g - Decimal(str(want))) <= Decimal("1e-9")
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            same_value(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, str):
        return isinstance(got, (str, int, float)) and " ".join(str(got).split()).lower() == \
            " ".join(want.split()).lower()
    return bool(got == want)
