"""Embedded models as providers: a loopback llama.cpp server called through the OpenAI adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from coe.catalog import ModelInfo, VendorInfo
from coe.config import Settings
from coe.embedded.runtime import EmbeddedRuntime
from coe.embedded.specs import spec_for
from coe.embedded.store import is_verified, missing_model_error, model_path
from coe.providers.http import RetryPolicy, Timeouts, Transport
from coe.providers.openai_compat import OpenAIChatAdapter
from coe.providers.remote import HttpProvider
from coe.types import ChatRequest, Completion, ProviderEvent

DEFAULT_LOCAL_TEMPERATURE = 0.2  # small models answer noticeably better cooler (DESIGN.md §5)


class EmbeddedProvider:
    def __init__(self, info: ModelInfo, vendor: VendorInfo, settings: Settings, transport: Transport,
                 runtime: EmbeddedRuntime) -> None:
        self.info = info
        self.vendor = vendor
        self.settings = settings
        self.transport = transport
        self.runtime = runtime
        self._inner: HttpProvider | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"EmbeddedProvider({self.info.id})"

    async def _provider(self) -> HttpProvider:
        if self._inner is not None:
            return self._inner
        async with self._lock:
            if self._inner is None:
                spec = spec_for(self.info.id)
                models_dir = self.settings.models_dir
                if not is_verified(models_dir, spec):
                    raise missing_model_error(self.info.id)
                url = await self.runtime.base_url(self.info.id, model_path(models_dir, spec),
                                                  self.settings.embedded)
                http = self.settings.http
                self._inner = HttpProvider(
                    self.info, self.vendor, OpenAIChatAdapter(), self.transport, base_url=url, key=None,
                    # loopback: one immediate retry covers a pooled keep-alive connection the server closed
                    retry=RetryPolicy(max_attempts=2, base_s=0.0),
                    timeouts=Timeouts(connect_s=http.connect_timeout_s, read_s=http.read_timeout_s),
                    total_timeout_s=http.timeout_s)
        return self._inner

    @staticmethod
    def _defaults(request: ChatRequest) -> ChatRequest:
        if request.temperature is None:
            return replace(request, temperature=DEFAULT_LOCAL_TEMPERATURE)
        return request

    async def complete(self, request: ChatRequest) -> Completion:
        return await (await self._provider()).complete(self._defaults(request))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        inner = await self._provider()
        async for ev in inner.stream(self._defaults(request)):
            yield ev
