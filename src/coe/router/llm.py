"""An LLM as the router: any catalog model is asked for one category name."""

from __future__ import annotations

import asyncio
import re
import time

from coe.catalog import CATEGORIES
from coe.providers.pool import ModelPool
from coe.router.base import RouteDecision
from coe.router.features import clean
from coe.types import ChatRequest

PROMPT = (
    "Classify the user's request into exactly one category. Categories:\n"
    "code, math, reasoning (logic puzzles), knowledge (facts, science, history), writing, translation, "
    "classical_chinese (poetry, classical texts, idioms), daily_life (practical advice), summarization "
    "(condense given text), extraction (pull data out of given text), role_play, chitchat.\n"
    "Answer with the category name only.\n\nRequest: {query}\nCategory:"
)


class LLMRouter:
    name = "llm"

    def __init__(self, pool: ModelPool, model: str, default_category: str = "knowledge") -> None:
        self.pool = pool
        self.model = model
        self.default_category = default_category

    async def aroute(self, query: str) -> RouteDecision:
        t0 = time.perf_counter()
        req = ChatRequest.of(self.model, PROMPT.format(query=clean(query)[:1500]), max_tokens=8, temperature=0.0)
        text = (await self.pool.complete(req)).text.lower()
        found = [c for c in CATEGORIES if re.search(rf"\b{c}\b", text)]
        latency = (time.perf_counter() - t0) * 1000
        if not found:
            return RouteDecision(self.default_category, 0.0, {}, f"llm:{self.model}", False, latency)
        return RouteDecision(found[0], 1.0 / len(found), {c: 1.0 / len(found) for c in found},
                             f"llm:{self.model}", True, latency)

    def route(self, query: str) -> RouteDecision:
        return asyncio.run(self.aroute(query))

    def route_batch(self, queries: list[str]) -> list[RouteDecision]:
        async def all_() -> list[RouteDecision]:
            return list(await asyncio.gather(*[self.aroute(q) for q in queries]))
        return asyncio.run(all_())
