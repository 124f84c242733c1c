"""OpenAI chat-completions wire format (also spoken by most Chinese vendors, Gemini's compatible
endpoint, Ollama, vLLM and llama.cpp's server)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from coe.jsonfast import loads
from coe.providers.base import StreamDone, WireError
from coe.providers.http import HttpRequest
from coe.providers.sse import SSEEvent
from coe.types import ChatRequest, Finish, ProviderEvent, ReasoningDelta, TextDelta, Usage, UsageReport


def short_error(body: bytes, limit: int = 240) -> str:
    """Pull ``error.message`` (or ``message``/``detail``) out of a JSON error body; else the raw text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if msg:
                text = str(msg)
        elif isinstance(err, str):
            text = err
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    return Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))


class OpenAIChatAdapter:
    name = "openai"

    def build(self, base_url: str, model: str, key: str | None, request: ChatRequest,
              *, stream: bool, token_param: str = "max_tokens") -> HttpRequest:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            body[token_param] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if stream else "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return HttpRequest("POST", base_url.rstrip("/") + "/chat/completions", headers,
                           json.dumps(body, ensure_ascii=False).encode())

    def parse_completion(self, data: Mapping[str, Any]) -> tuple[str, str, Usage, str | None]:
        try:
            choice = data["choices"][0]
            msg = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise WireError("response has no choices[0].message") from None
        text = msg.get("content") or ""
        reasoning = msg.get("reasoning_content") or ""
        if not isinstance(text, str) or not isinstance(reasoning, str):
            raise WireError("message.content is not a string")
        return text, reasoning, _usage(data.get("usage")) or Usage(), choice.get("finish_reason")

    def parse_event(self, event: SSEEvent) -> Iterable[ProviderEvent]:
        data = event.data.strip()
        if data == "[DONE]":
            raise StreamDone
        try:
            obj = loads(data)
        except ValueError:
            raise WireError(f"stream chunk is not JSON: {data[:80]!r}") from None
        if not isinstance(obj, dict):
            raise WireError("stream chunk is not a JSON object")
        if "error" in obj:
            raise WireError(f"upstream error in stream: {short_error(data.encode())}")
        out: list[ProviderEvent] = []
        for choice in obj.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out.append(ReasoningDelta(str(delta["reasoning_content"])))
            if delta.get("content"):
                out.append(TextDelta(str(delta["content"])))
            if choice.get("finish_reason"):
                out.append(Finish(str(choice["finish_reason"])))
        usage = _usage(obj.get("usage"))
        if usage is not None:
            out.append(UsageReport(usage))
        return out

    def error_detail(self, body: bytes) -> str:
        return short_error(body)
