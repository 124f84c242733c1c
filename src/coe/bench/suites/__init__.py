"""The suites by name. ``objective`` mixes math, decimal, code and extraction evenly; ``all`` adds subjective."""

from __future__ import annotations

from coe.bench.base import Item, Kind, Score, Suite, interleave
from coe.bench.suites.code import HumanEvalSuite
from coe.bench.suites.extraction import ExtractionSuite
from coe.bench.suites.reasoning import decimal_suite, math_suite
from coe.bench.suites.subjective import SubjectiveSuite
from coe.errors import InputError


class MixedSuite:
    """Several suites, sampled round-robin so a small ``limit`` covers each of them."""

    def __init__(self, name: str, description: str, parts: list[Suite]) -> None:
        self.name, self.description, self.parts = name, description, parts
        self.kind: Kind = "subjective" if any(p.kind == "subjective" for p in parts) else "objective"

    def items(self, limit: int | None = None, seed: int = 0) -> list[Item]:
        n = len(self.parts)
        per = None if limit is None else -(-limit // n)
        return interleave([p.items(per, seed) for p in self.parts], limit)

    def score(self, item: Item, answer: str) -> Score:
        return get_suite(item.suite).score(item, answer)


def _basic() -> dict[str, Suite]:
    return {"math": math_suite(), "decimal": decimal_suite(), "code": HumanEvalSuite(),
            "extraction": ExtractionSuite(), "subjective": SubjectiveSuite()}


def get_suite(name: str) -> Suite:
    basic = _basic()
    if name in basic:
        return basic[name]
    objective = [basic[n] for n in ("math", "decimal", "code", "extraction")]
    if name == "objective":
        return MixedSuite("objective", "math + decimal + code + extraction, evenly", objective)
    if name == "all":
        return MixedSuite("all", "every suite, evenly", [*objective, basic["subjective"]])
    raise InputError(f"unknown suite '{name}'", hint=f"choose one of {', '.join(suite_names())}")


def suite_names() -> list[str]:
    return ["objective", "math", "decimal", "code", "extraction", "subjective", "all"]
