"""A scripted provider shipped with the library, for unit tests and benchmarks (no network)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from coe.catalog import ModelInfo
from coe.errors import ProviderError
from coe.types import ChatRequest, Completion, Finish, ProviderEvent, TextDelta, Usage, UsageReport

Reply = str | ProviderError | Callable[[ChatRequest], str]


@dataclass
class FakeScript:
    """What the fake does on each call, in turn (the last entry repeats). A ProviderError entry is raised;
    with ``fail_after_chars`` it is raised after that many characters of ``partial_text`` stream out."""

    replies: Sequence[Reply] = ("ok",)
    latency_s: float = 0.0
    chunk_chars: int = 4
    token_delay_s: float = 0.0
    fail_after_chars: int | None = None
    partial_text: str = "partial answer "


def fake_model_info(model_id: str = "fake/echo") -> ModelInfo:
    vendor, _, model = model_id.partition("/")
    return ModelInfo(id=model_id, vendor=vendor, model=model, name=model, context_window=8192, max_output=4096,
                     price_in=1.0, price_out=2.0)


class FakeProvider:
    def __init__(self, info: ModelInfo, script: FakeScript | None = None) -> None:
        self.info = info
        self.script = script or FakeScript()
        self.calls: list[ChatRequest] = []

    def _next(self, request: ChatRequest) -> Reply:
        replies = self.script.replies
        reply = replies[min(len(self.calls), len(replies) - 1)]
        self.calls.append(request)
        return reply

    @staticmethod
    def _usage(request: ChatRequest, text: str) -> Usage:
        prompt = sum(len(m.content) for m in request.messages)
        return Usage(max(1, prompt // 4), max(1, len(text) // 4))

    async def complete(self, request: ChatRequest) -> Completion:
        t0 = time.perf_counter()
        parts = [ev.text async for ev in self.stream(request) if isinstance(ev, TextDelta)]
        text = "".join(parts)
        usage = self._usage(request, text)
        return Completion(model=self.info.id, text=text, usage=usage, cost=self.info.cost(usage),
                          latency_ms=(time.perf_counter() - t0) * 1000, finish_reason="stop")

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        reply = self._next(request)
        if self.script.latency_s:
            await asyncio.sleep(self.script.latency_s)
        if isinstance(reply, ProviderError):
            if self.script.fail_after_chars:
                sent = self.script.partial_text[: self.script.fail_after_chars]
                yield TextDelta(sent)
                reply.partial = sent
            raise reply
        text = reply(request) if callable(reply) else reply
        step = max(1, self.script.chunk_chars)
        for i in range(0, len(text), step):
            if self.script.token_delay_s:
                await asyncio.sleep(self.script.token_delay_s)
            yield TextDelta(text[i : i + step])
        yield UsageReport(self._usage(request, text))
        yield Finish("stop")
