"""Anthropic Messages API wire format."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from coe.providers.base import StreamDone, WireError
from coe.providers.http import HttpRequest
from coe.providers.openai_compat import short_error
from coe.providers.sse import SSEEvent
from coe.types import ChatRequest, Finish, ProviderEvent, ReasoningDelta, TextDelta, Usage, UsageReport

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096


class AnthropicAdapter:
    name = "anthropic"

    def build(self, base_url: str, model: str, key: str | None, request: ChatRequest,
              *, stream: bool, token_param: str = "max_tokens") -> HttpRequest:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages
                         if m.role != "system"],
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "stream": stream,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        headers = {"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if key:
            headers["x-api-key"] = key
        return HttpRequest("POST", base_url.rstrip("/") + "/messages", headers,
                           json.dumps(body, ensure_ascii=False).encode())

    def parse_completion(self, data: Mapping[str, Any]) -> tuple[str, str, Usage, str | None]:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise WireError("response has no content list")
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        thinking = "".join(b.get("thinking", "") for b in blocks
                           if isinstance(b, dict) and b.get("type") == "thinking")
        u = data.get("usage") or {}
        usage = Usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0))
        return text, thinking, usage, data.get("stop_reason")

    def parse_event(self, event: SSEEvent) -> Iterable[ProviderEvent]:
        try:
            obj = json.loads(event.data)
        except ValueError:
            raise WireError(f"stream event is not JSON: {event.data[:80]!r}") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "message_start":
            u = (obj.get("message") or {}).get("usage") or {}
            return [UsageReport(Usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0)))]
        if kind == "content_block_delta":
            d = obj.get("delta") or {}
            if d.get("type") == "text_delta":
                return [TextDelta(str(d.get("text", "")))]
            if d.get("type") == "thinking_delta":
                return [ReasoningDelta(str(d.get("thinking", "")))]
            return []
        if kind == "message_delta":
            out: list[ProviderEvent] = []
            u = obj.get("usage") or {}
            if u:
                out.append(UsageReport(Usage(int(u.get("input_tokens") or 0),
                                             int(u.get("output_tokens") or 0))))
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason:
                out.append(Finish(str(reason)))
            return out
        if kind == "message_stop":
            raise StreamDone
        if kind == "error":
            raise WireError(f"upstream error in stream: {short_error(event.data.encode())}")
        return []  # ping, content_block_start/stop

    def error_detail(self, body: bytes) -> str:
        return short_error(body)
