"""A provider that calls a model over HTTP through a wire adapter, with retries and timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from coe.catalog import ModelInfo, VendorInfo
from coe.errors import (
    AuthError,
    BadResponseError,
    ProviderError,
    ProviderTimeout,
    RateLimitedError,
    UnavailableError,
)
from coe.providers.base import StreamDone, WireAdapter, WireError
from coe.providers.http import HttpResponse, RetryPolicy, Timeouts, Transport, TransportError
from coe.providers.sse import SSEDecoder
from coe.types import (
    ChatRequest,
    Completion,
    Finish,
    ProviderEvent,
    ReasoningDelta,
    Usage,
    UsageReport,
)


def merge_usage(a: Usage, b: Usage) -> Usage:
    """Usage reports in a stream are cumulative (Anthropic sends input and output separately)."""
    return Usage(max(a.input_tokens, b.input_tokens), max(a.output_tokens, b.output_tokens))


class HttpProvider:
    def __init__(self, info: ModelInfo, vendor: VendorInfo, adapter: WireAdapter, transport: Transport,
                 *, base_url: str, key: str | None, retry: RetryPolicy, timeouts: Timeouts,
                 total_timeout_s: float) -> None:
        self.info = info
        self.vendor = vendor
        self.adapter = adapter
        self.transport = transport
        self.base_url = base_url
        self._key = key
        self.retry = retry
        self.timeouts = timeouts
        self.total_timeout_s = total_timeout_s

    def __repr__(self) -> str:
        return f"HttpProvider({self.info.id} @ {self.base_url})"

    # ---- errors ----------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _status_error(self, status: int, body: bytes) -> ProviderError:
        mid = self.info.id
        detail = self.adapter.error_detail(self._redact(body.decode("utf-8", "replace")).encode()) or "no details"
        if status in (401, 403):
            env = self.vendor.key_env
            hint = f"check the key in {env}" if env else "check the endpoint's credentials"
            return AuthError(mid, f"HTTP {status} authentication failed ({detail})", hint=hint, status=status)
        if status == 429:
            return RateLimitedError(mid, f"HTTP 429 rate limited ({detail})",
                                    hint="wait, lower concurrency, or pick another model", status=status)
        if status == 404:
            return BadResponseError(mid, f"HTTP 404 not found ({detail})",
                                    hint=f"check the model name '{self.info.model}' and base URL {self.base_url}",
                                    status=status)
        if RetryPolicy.should_retry_status(status):
            return UnavailableError(mid, f"HTTP {status} from {self.vendor.name} ({detail})",
                                    hint="the service is failing; try again later or use another model",
                                    status=status)
        return BadResponseError(mid, f"HTTP {status} request rejected ({detail})",
                                hint="check the request parameters for this model", status=status)

    def _transport_error(self, e: TransportError, partial: str = "") -> ProviderError:
        mid, where = self.info.id, self.base_url
        if e.kind == "connect":
            return UnavailableError(mid, f"cannot reach {where} ({e.detail})",
                                    hint="check the network or the base URL", partial=partial)
        if e.kind == "connect_timeout":
            return ProviderTimeout(mid, f"connecting to {where} timed out ({e.detail})",
                                   hint="check the network or raise http.connect_timeout_s", partial=partial)
        if e.kind == "read_timeout":
            return ProviderTimeout(mid, f"{where} stopped sending ({e.detail})",
                                   hint="retry, or raise http.read_timeout_s", partial=partial)
        return BadResponseError(mid, f"connection to {where} broke mid-response ({e.detail})",
                                hint="retry or use another model", partial=partial)

    # ---- calls ------------------------------------------------------------------------------------

    async def _open(self, stack: AsyncExitStack, request: ChatRequest, *, stream: bool) -> HttpResponse:
        """Send with retries; return a 2xx response registered on ``stack``."""
        http_req = self.adapter.build(self.base_url, self.info.model, self._key, request, stream=stream,
                                      token_param=self.info.token_param)
        attempt = 0
        while True:
            attempt += 1
            inner = AsyncExitStack()
            try:
                resp = await inner.enter_async_context(self.transport.send(http_req, self.timeouts))
                if resp.status < 400:
                    await stack.enter_async_context(inner)
                    return resp
                body = await resp.read()
                await inner.aclose()
                err = self._status_error(resp.status, body)
                wait = self.retry.delay(attempt, resp.headers) if err.retryable else None
            except TransportError as e:
                await inner.aclose()
                err = self._transport_error(e)
                wait = self.retry.delay(attempt)
            if wait is None:
                if attempt > 1:
                    err.message += f" after {attempt} attempts"
                raise err
            await self.retry.sleep(wait)

    def _timeout_error(self, partial: str = "") -> ProviderTimeout:
        return ProviderTimeout(self.info.id, f"no complete answer within {self.total_timeout_s:g}s",
                               hint="raise http.timeout_s or ask for a shorter answer", partial=partial)

    async def complete(self, request: ChatRequest) -> Completion:
        t0 = time.perf_counter()
        limit = request.timeout_s or self.total_timeout_s
        try:
            async with asyncio.timeout(limit), AsyncExitStack() as stack:
                resp = await self._open(stack, request, stream=False)
                try:
                    body = await resp.read()
                except TransportError as e:
                    raise self._transport_error(e) from None
        except TimeoutError:
            raise self._timeout_error() from None
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise WireError("response is not a JSON object")
            text, reasoning, usage, finish = self.adapter.parse_completion(data)
        except (ValueError, WireError, AttributeError, TypeError, KeyError) as e:
            msg = self._redact(str(e)) if isinstance(e, WireError) else (
                "response is not valid JSON" if isinstance(e, json.JSONDecodeError)
                else f"unexpected response shape ({e.__class__.__name__})")
            raise BadResponseError(self.info.id, f"malformed response: {msg}",
                                   hint="the endpoint may not speak this wire format") from None
        return Completion(model=self.info.id, text=text, usage=usage, cost=self.info.cost(usage),
                          latency_ms=(time.perf_counter() - t0) * 1000, finish_reason=finish,
                          reasoning=reasoning)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Typed events. A failure after text was sent raises a ProviderError whose ``partial`` holds it."""
        limit = request.timeout_s or self.total_timeout_s
        received: list[str] = []
        usage = Usage()
        finished: Finish | None = None
        parse = self.adapter.parse_event
        try:
            async with asyncio.timeout(limit), AsyncExitStack() as stack:
                resp = await self._open(stack, request, stream=True)
                decoder = SSEDecoder()
                done = False
                try:
                    read = resp.read_chunk
                    while chunk := await read():  # read and decoded inline: no generator per read
                        for sse in decoder.feed(chunk):
                            try:
                                events = parse(sse)
                                if not isinstance(events, list):  # a plugin adapter may return a generator
                                    events = list(events)
                            except StreamDone:
                                done = True
                                break
                            except (AttributeError, TypeError, KeyError, ValueError) as e:
                                raise WireError(f"unexpected chunk shape ({e.__class__.__name__})") from None
                            for ev in events:
                                kind = ev.kind
                                if kind == "usage":
                                    usage = merge_usage(usage, ev.usage)  # type: ignore[union-attr]
                                elif kind == "finish":
                                    finished = ev  # type: ignore[assignment]
                                else:
                                    if kind == "text":
                                        received.append(ev.text)  # type: ignore[union-attr]
                                    yield ev
                        if done:
                            break
                    else:
                        for sse in decoder.flush():  # a last event without its blank line is dropped (spec)
                            if sse.data.strip() == "[DONE]":
                                done = True
                    if not done and finished is None:
                        raise BadResponseError(
                            self.info.id, "stream ended before the answer was complete",
                            hint="retry or use another model", partial="".join(received))
                except TransportError as e:
                    raise self._transport_error(e, "".join(received)) from None
                except WireError as e:
                    raise BadResponseError(self.info.id, f"malformed stream: {self._redact(str(e))}",
                                           hint="the endpoint may not speak this wire format",
                                           partial="".join(received)) from None
        except TimeoutError:
            raise self._timeout_error("".join(received)) from None
        yield UsageReport(usage)
        yield finished or Finish("stop")


__all__ = ["HttpProvider", "ReasoningDelta", "merge_usage"]
