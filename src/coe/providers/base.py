"""The provider protocol: one interface over every vendor and local model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from coe.catalog import ModelInfo
from coe.providers.http import HttpRequest
from coe.providers.sse import SSEEvent
from coe.types import ChatRequest, Completion, ProviderEvent, Usage


@runtime_checkable
class Provider(Protocol):
    """Calls one catalog model. ``stream`` yields typed events; ``complete`` returns the whole answer."""

    info: ModelInfo

    async def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]: ...


class WireError(Exception):
    """A response that does not follow the wire protocol (the provider adds the model's name)."""


class StreamDone(Exception):
    """Raised by an adapter when the stream's terminal event arrives (e.g. ``data: [DONE]``)."""


class WireAdapter(Protocol):
    """Speaks one wire protocol. Pure functions of their inputs: no I/O."""

    name: str

    def build(self, base_url: str, model: str, key: str | None, request: ChatRequest,
              *, stream: bool, token_param: str = "max_tokens") -> HttpRequest: ...

    def parse_completion(self, data: Mapping[str, Any]) -> tuple[str, str, Usage, str | None]:
        """(text, reasoning, usage, finish_reason) from a non-streaming response body."""
        ...

    def parse_event(self, event: SSEEvent) -> Iterable[ProviderEvent]:
        """Typed events from one SSE event; raise StreamDone at the end, WireError on bad data."""
        ...

    def error_detail(self, body: bytes) -> str:
        """A short, human-readable reason from an error response body."""
        ...
