"""Prompt templates are files (``prompts/NAME.zh.md`` / ``NAME.en.md``); ``{name}`` placeholders are filled
from the run's variables. Unknown placeholders (e.g. braces in code) are left alone."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from coe.errors import WorkflowError
from coe.lang import detect_language

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

__all__ = ["detect_language", "load_template", "parse_items", "render"]

ROLE_LABELS = {
    "en": {"expert": "Expert answer", "reflector": "Reviewer's critique", "proposer": "Candidate answer",
           "planner": "Plan", "answerer": "Answer", "summarizer": "Summary", "synthesizer": "Synthesis",
           "aggregator": "Aggregate", "sub": "Sub-question"},
    "zh": {"expert": "专家回答", "reflector": "审阅意见", "proposer": "候选回答", "planner": "计划",
           "answerer": "回答", "summarizer": "总结", "synthesizer": "综合回答", "aggregator": "汇总",
           "sub": "子问题"},
}
PREVIOUS_HEADER = {
    "en": "Answers from other models in the previous round (use them critically; some may be wrong):",
    "zh": "上一轮其他模型的回答(请批判地参考,其中可能有错误):",
}


@lru_cache(maxsize=256)
def load_template(name: str, lang: str, base_dir: str = "") -> str:
    """``name`` is a built-in template name or a path (``{lang}`` is substituted), relative to ``base_dir``."""
    if "/" in name or name.endswith(".md"):
        path = Path(base_dir or ".") / name.replace("{lang}", lang)
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            raise WorkflowError(f"prompt file not found: {path}") from None
    folder = resources.files("coe.workflows") / "prompts"
    for candidate in (f"{name}.{lang}.md", f"{name}.en.md"):
        res = folder / candidate
        if res.is_file():
            return res.read_text(encoding="utf-8")
    raise WorkflowError(f"no prompt template '{name}'", hint="built-in templates live in coe/workflows/prompts")


def render(template: str, variables: dict[str, str]) -> str:
    text = _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), template).strip()
    return re.sub(r"\n{3,}", "\n\n", text)  # an empty block leaves no gap


_ITEM = re.compile(r"^\s*(?:\d+[.)、:]|[-*•]|[（(]?\d+[)）])\s*(.+?)\s*$")


def parse_items(text: str, limit: int) -> list[str]:
    """Items of a numbered or bulleted list (a planner's sub-questions); plain lines if there is no list."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    items = [m.group(1) for ln in lines if (m := _ITEM.match(ln))]
    if not items:
        items = [ln.strip() for ln in lines if len(ln.strip()) > 3]
    seen: list[str] = []
    for it in items:
        it = it.strip("*_ ")
        if it and it not in seen:
            seen.append(it)
    return seen[:limit]
