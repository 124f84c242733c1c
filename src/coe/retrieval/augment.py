"""Retrieval for a run: which knowledge base, how many passages per mode, the prompt variables and the
final citation step, as hooks for the engine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from coe.config import Settings
from coe.errors import InputError
from coe.lang import detect_language
from coe.retrieval.cite import CitationContext
from coe.retrieval.demo import DEMO_KB
from coe.retrieval.index import DEFAULT_KB, KnowledgeBase, Passage
from coe.retrieval.websearch import WebSearch, web_search
from coe.workflows.base import StageSpec

PASSAGES_PER_MODE = {"concise": 3, "standard": 6, "deep": 3, "collaborate": 5, "collaborate-5": 5, "moa": 5}


def choose_kb(settings: Settings, kb: KnowledgeBase, requested: str | None) -> str | None:
    if requested:
        return requested
    if settings.file.kb.default:
        return settings.file.kb.default
    names = kb.kbs()
    if names.get(DEFAULT_KB):
        return DEFAULT_KB
    return DEMO_KB if names.get(DEMO_KB) else None


@dataclass
class Augmentation:
    kb: KnowledgeBase
    name: str | None
    k: int
    min_dense: float
    ctx: CitationContext
    web: WebSearch | None = None
    web_results: int = 4

    async def search(self, query: str) -> list[Passage]:
        found: list[Passage] = []
        if self.name is not None:
            hits = await asyncio.to_thread(self.kb.search, query, self.name, self.k)
            found = [p for p in hits if p.dense >= self.min_dense]
        if self.web is not None:
            found += await self.web.search(query, self.web_results)
        return found

    async def variables(self, spec: StageSpec, item: str | None) -> dict[str, str]:
        if spec.retrieve and item:
            return {"passages": self.ctx.block(self.ctx.add(await self.search(item)))}
        return {"passages": self.ctx.block()}

    async def finalize(self, answer: str) -> tuple[str, dict[str, Any]]:
        text, extras = self.ctx.finalize(answer)
        if extras:
            extras["retrieval"]["kb"] = self.name
            if self.web is not None:
                extras["retrieval"]["web"] = self.web.name
        return text, extras


async def prepare(question: str, mode: str, settings: Settings, kb: KnowledgeBase,
                  requested: str | None) -> Augmentation | None:
    """Search the knowledge base for the question when the mode uses retrieval; None when it does not."""
    if mode not in PASSAGES_PER_MODE or not settings.file.kb.enabled:
        return None
    name = choose_kb(settings, kb, requested)
    web = web_search(settings)
    if name is None and web is None:
        return None
    if requested and not await asyncio.to_thread(lambda: kb.kbs().get(requested)):
        raise InputError(f"no knowledge base '{requested}'", hint="see `coe kb list`; add files with `coe kb add`")
    aug = Augmentation(kb, name, PASSAGES_PER_MODE[mode], settings.file.kb.min_dense,
                       CitationContext(detect_language(question)), web, settings.file.search.results)
    aug.ctx.add(await aug.search(question))
    return aug
