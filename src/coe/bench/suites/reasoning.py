"""Math word problems (``gsm_symbolic``) and decimal comparisons (``number_format``) from reasoning-gym's
seeded generators, scored by reasoning-gym's own scorers on the extracted final number."""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

from coe.bench.base import Item, Kind, Score
from coe.bench.extract import final_number
from coe.bench.prompts import fill
from coe.errors import InputError

POOL_SIZE = 500  # the generator's virtual dataset; a sample is drawn from its first POOL_SIZE items


@lru_cache(maxsize=1)
def _rg() -> Any:
    try:
        return importlib.import_module("reasoning_gym")
    except ImportError:
        raise InputError("the math and decimal suites need reasoning-gym",
                         hint="pip install 'reasoning-gym==0.1.25'") from None


@lru_cache(maxsize=8)
def _dataset(name: str, seed: int, config: tuple[tuple[str, Any], ...]) -> Any:
    return _rg().create_dataset(name, size=POOL_SIZE, seed=seed, **dict(config))


class GymSuite:
    kind: Kind = "objective"

    def __init__(self, name: str, dataset: str, category: str, description: str, prompt: str, max_tokens: int,
                 config: dict[str, Any] | None = None) -> None:
        self.name, self.dataset, self.category, self.description = name, dataset, category, description
        self.prompt, self.max_tokens = prompt, max_tokens
        self.config = tuple(sorted((config or {}).items()))

    def items(self, limit: int | None = None, seed: int = 0) -> list[Item]:
        ds = _dataset(self.dataset, seed, self.config)
        n = POOL_SIZE if limit is None else min(limit, POOL_SIZE)
        out = []
        for i in range(n):
            e = ds[i]
            out.append(Item(id=f"{self.name}-{seed}-{i:03d}", suite=self.name, category=self.category,
                            prompt=fill(self.prompt, question=e["question"].strip()), max_tokens=self.max_tokens,
                            data={"index": i, "seed": seed, "answer": e["answer"]}))
        return out

    def score(self, item: Item, answer: str) -> Score:
        ds = _dataset(self.dataset, int(item.data["seed"]), self.config)
        entry = ds[int(item.data["index"])]
        got = final_number(answer)
        raw = float(ds.score_answer(got, entry)) if got is not None else 0.0
        return Score(1.0 if raw >= 1.0 else 0.0, {"extracted": got, "expected": entry["answer"]})


def math_suite() -> GymSuite:
    return GymSuite("math", "gsm_symbolic", "math", "grade-school math word problems (reasoning-gym gsm_symbolic)",
                    "math", 384)


def decimal_suite() -> GymSuite:
    return GymSuite("decimal", "number_format", "decimal",
                    "pick the larger/smaller of close decimals in mixed notations (reasoning-gym number_format)",
                    "decimal", 160, {"min_num_candidates": 2, "max_num_candidates": 3, "min_n": 1.0,
                                     "max_n": 1000.0, "max_delta": 1.0})
