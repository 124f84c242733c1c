"""Typed, frozen values that flow between layers. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat call to one model. ``model`` is the catalog id (``vendor/model``)."""

    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    timeout_s: float | None = None

    @staticmethod
    def of(model: str, prompt: str, *, system: str | None = None, **kw: object) -> ChatRequest:
        msgs: list[Message] = []
        if system:
            msgs.append(Message("system", system))
        msgs.append(Message("user", prompt))
        return ChatRequest(model=model, messages=tuple(msgs), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True, slots=True)
class Cost:
    """Cost in US dollars, split by direction."""

    input_usd: float = 0.0
    output_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.output_usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.input_usd + other.input_usd, self.output_usd + other.output_usd)


# ---- provider stream events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer text."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of a model's visible reasoning (``reasoning_content`` / thinking), not part of the answer."""

    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage
    kind: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str | None = None
    kind: Literal["finish"] = "finish"


ProviderEvent = TextDelta | ReasoningDelta | UsageReport | Finish


@dataclass(frozen=True, slots=True)
class Completion:
    """The collected result of one model call."""

    model: str
    text: str
    usage: Usage = field(default_factory=Usage)
    cost: Cost = field(default_factory=Cost)
    latency_ms: float = 0.0
    finish_reason: str | None = None
    reasoning: str = ""
    attempts: tuple[str, ...] = ()
    """Models tried before this one succeeded (fallback history), as ``model: error`` lines."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """The pool gave up on ``from_model`` (``error``) and continues with ``to_model``. Text streamed
    before the failure (``partial``) is discarded by consumers of the answer but kept for traces."""

    from_model: str
    to_model: str
    error: str
    partial: str = ""
    kind: Literal["fallback"] = "fallback"


PoolEvent = ProviderEvent | Fallback
