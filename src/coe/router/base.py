"""The router's interface: a query in, a category with a calibrated confidence out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from coe.catalog import CATEGORIES


@dataclass(frozen=True)
class RouteDecision:
    category: str
    confidence: float  # calibrated probability of ``category``
    scores: dict[str, float] = field(default_factory=dict)  # every category's probability
    method: str = ""  # which router (and path) decided
    confident: bool = True  # False: below the threshold, the default route was used
    latency_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        top = sorted(self.scores.items(), key=lambda kv: -kv[1])[:3]
        return {"category": self.category, "confidence": round(self.confidence, 4), "confident": self.confident,
                "method": self.method, "top": {k: round(v, 4) for k, v in top},
                "latency_ms": round(self.latency_ms, 3)}


class Router(Protocol):
    name: str

    def route(self, query: str) -> RouteDecision: ...

    def route_batch(self, queries: list[str]) -> list[RouteDecision]: ...


def check_categories(labels: list[str]) -> None:
    bad = sorted({c for c in labels if c not in CATEGORIES})
    if bad:
        from coe.errors import InputError

        raise InputError(f"unknown categories {bad}", hint=f"use {', '.join(CATEGORIES)}")
