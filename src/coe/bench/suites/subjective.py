"""Open-ended bilingual prompts (coe/benchdata/subjective.jsonl, the router's 12 categories, zh + en, with a
rubric each), scored by the judge: a 1-10 grade and pairwise against a baseline system."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from importlib import resources
from typing import Any

from coe.bench.base import Item, Kind, Score, interleave


@lru_cache(maxsize=1)
def records() -> tuple[dict[str, Any], ...]:
    text = (resources.files("coe.benchdata") / "subjective.jsonl").read_text(encoding="utf-8")
    return tuple(json.loads(line) for line in text.splitlines() if line.strip())


class SubjectiveSuite:
    name = "subjective"
    kind: Kind = "subjective"
    description = "bilingual open-ended prompts in 12 categories, graded 1-10 and pairwise by an LLM judge"

    def items(self, limit: int | None = None, seed: int = 0) -> list[Item]:
        by_cat: dict[str, list[Item]] = {}
        for r in records():
            by_cat.setdefault(r["category"], []).append(
                Item(id=r["id"], suite=self.name, category=r["category"], prompt=r["prompt"], kind="subjective",
                     lang=r["lang"], max_tokens=768, data={"rubric": r["rubric"]}))
        groups = [by_cat[c] for c in sorted(by_cat)]
        rng = random.Random(seed)
        for g in groups:
            rng.shuffle(g)
        return interleave(groups, limit)

    def score(self, item: Item, answer: str) -> Score:
        raise NotImplementedError("subjective items are scored by the judge")
