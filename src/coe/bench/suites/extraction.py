"""Structured extraction (coe/benchdata/extraction.jsonl): the answer's JSON object is compared with the
expected one key by key (numbers numerically, strings ignoring case and spacing, lists in order). The score is
the fraction of keys right; ``exact`` in the detail says whether all were."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from importlib import resources
from typing import Any

from coe.bench.base import Item, Kind, Score
from coe.bench.extract import json_object, same_value


@lru_cache(maxsize=1)
def records() -> tuple[dict[str, Any], ...]:
    text = (resources.files("coe.benchdata") / "extraction.jsonl").read_text(encoding="utf-8")
    return tuple(json.loads(line) for line in text.splitlines() if line.strip())


class ExtractionSuite:
    name = "extraction"
    kind: Kind = "objective"
    description = "extract named fields from zh/en texts into JSON; exact per-key checks"

    def items(self, limit: int | None = None, seed: int = 0) -> list[Item]:
        recs = list(records())
        random.Random(seed).shuffle(recs)
        return [Item(id=r["id"], suite=self.name, category="extraction", prompt=r["prompt"], lang=r["lang"],
                     max_tokens=384, data={"expected": r["expected"], "keys": r["keys"]})
                for r in recs[:limit]]

    def score(self, item: Item, answer: str) -> Score:
        expected: dict[str, Any] = item.data["expected"]
        got = json_object(answer)
        if got is None:
            return Score(0.0, {"error": "no JSON object in the answer", "exact": False})
        wrong = [k for k in item.data["keys"] if k not in got or not same_value(got[k], expected[k])]
        right = len(expected) - len(wrong)
        return Score(right / len(expected), {"wrong_keys": wrong, "exact": not wrong})
