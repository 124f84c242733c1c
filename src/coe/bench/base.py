"""What a suite is: items with a prompt, and (for objective suites) an exact scorer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal["objective", "subjective"]


@dataclass(frozen=True)
class Item:
    """One question. ``data`` holds what the scorer or the judge needs (reference answer, tests, rubric)."""

    id: str
    suite: str
    category: str
    prompt: str
    kind: Kind = "objective"
    lang: str = "en"
    max_tokens: int = 512
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """``score`` in [0, 1] (1 = right); ``detail`` says what was extracted and compared."""

    score: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


class Suite(Protocol):
    name: str
    kind: Kind
    description: str

    def items(self, limit: int | None = None, seed: int = 0) -> list[Item]:
        """A deterministic sample: the same ``limit`` and ``seed`` give the same items."""
        ...

    def score(self, item: Item, answer: str) -> Score:
        """Objective suites score exactly; subjective suites are scored by the judge instead (not called)."""
        ...


def interleave(groups: list[list[Item]], limit: int | None) -> list[Item]:
    """Round-robin over groups, so that a small ``limit`` still samples every group evenly."""
    out: list[Item] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        for g in groups:
            if i < len(g):
                out.append(g[i])
    return out if limit is None else out[:limit]
