"""Benchmark prompts are files in ``coe/bench/prompts`` (task instructions and judge prompts)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from coe.errors import InputError


@lru_cache(maxsize=32)
def load(name: str) -> str:
    res = resources.files("coe.bench") / "prompts" / f"{name}.md"
    if not res.is_file():
        raise InputError(f"no benchmark prompt '{name}'", hint="prompts live in coe/bench/prompts")
    return res.read_text(encoding="utf-8")


def fill(name: str, **values: str) -> str:
    """The prompt file with ``{key}`` replaced by each value (other braces are left alone, so code and JSON in
    values are safe: values are inserted once, after all placeholders are found)."""
    text = load(name)
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "{":
            end = text.find("}", i)
            key = text[i + 1 : end] if end > 0 else ""
            if key in values:
                out.append(values[key])
                i = end + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out).strip()
