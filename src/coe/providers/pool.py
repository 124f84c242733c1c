"""The model pool: which models can be called here, the default one, and calls with fallback."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace

from coe.catalog import Catalog, ModelInfo, load_catalog
from coe.config import Settings
from coe.embedded.specs import spec_for
from coe.embedded.store import is_verified
from coe.errors import InputError, ProviderError
from coe.providers.base import Provider
from coe.providers.http import AiohttpTransport, Transport
from coe.providers.registry import ProviderContext, Registry, default_context, default_registry
from coe.types import ChatRequest, Completion, Fallback, PoolEvent, TextDelta

AVAILABILITY_TTL_S = 10.0

# With no key configured, the embedded pool answers; the strongest installed model first.
EMBEDDED_PREFERENCE = (
    "embedded/qwen2.5-coder-1.5b-instruct",
    "embedded/qwen2.5-coder-0.5b-instruct",
    "embedded/smollm2-135m-instruct",
)


class ModelPool:
    def __init__(self, settings: Settings | None = None, *, catalog: Catalog | None = None,
                 registry: Registry | None = None, transport: Transport | None = None,
                 context: ProviderContext | None = None) -> None:
        self.settings = settings or Settings()
        self.catalog = catalog or load_catalog(self.settings)
        self.registry = registry or default_registry()
        self.transport = transport or AiohttpTransport()
        self.context = context or default_context(self.settings, self.transport)
        self._providers: dict[str, Provider] = {}
        self._available: tuple[float, list[ModelInfo]] | None = None

    # ---- availability ---------------------------------------------------------------------------

    def is_available(self, info: ModelInfo) -> bool:
        """Callable here: key present, embedded model installed, or a configured local endpoint."""
        vendor = self.catalog.vendor_of(info)
        if vendor.wire == "embedded":
            try:
                return is_verified(self.settings.models_dir, spec_for(info.id))
            except InputError:
                return False
        if vendor.wire == "fake":
            return True
        if vendor.local:
            return bool(vendor.base_url_env and self.settings.env.get(vendor.base_url_env)) or \
                vendor.id in self.settings.file.vendors
        return self.settings.api_key(vendor.id, vendor.key_env) is not None

    def available(self) -> list[ModelInfo]:
        """Available models; re-checked at most every AVAILABILITY_TTL_S (keys are fixed per process, but
        embedded models can be installed or removed while a server runs)."""
        now = time.monotonic()
        if self._available is None or now - self._available[0] > AVAILABILITY_TTL_S:
            self._available = (now, [m for m in self.catalog if self.is_available(m)])
        return list(self._available[1])

    def default_model(self) -> str:
        """Config ``default_model``; else the first available remote model; else the embedded pool."""
        if self.settings.file.default_model:
            return self.catalog.model(self.settings.file.default_model).id
        avail = self.available()
        remote = [m for m in avail if not self.catalog.vendor_of(m).local]
        if remote:
            return remote[0].id
        ids = {m.id for m in avail}
        for mid in EMBEDDED_PREFERENCE:
            if mid in ids:
                return mid
        if avail:
            return avail[0].id
        raise InputError("no model is available: no API key is set and the embedded models are missing",
                         hint="run ./install.sh (or `coe models pull`), or set a vendor key such as "
                              "DEEPSEEK_API_KEY")

    def provider(self, model_id: str) -> Provider:
        prov = self._providers.get(model_id)
        if prov is None:
            info = self.catalog.model(model_id)
            prov = self.registry.create(info, self.catalog.vendor_of(info), self.context)
            self._providers[model_id] = prov
        return prov

    # ---- calls ----------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, fallbacks: Sequence[str] = ()) -> Completion:
        """Call ``request.model``, then each fallback in turn until one answers."""
        attempts: list[str] = []
        candidates = [request.model, *fallbacks]
        for i, mid in enumerate(candidates):
            try:
                result = await self.provider(mid).complete(replace(request, model=mid))
            except ProviderError as e:
                attempts.append(f"{mid}: {e}")
                if i == len(candidates) - 1:
                    raise
                continue
            return replace(result, attempts=tuple(attempts))
        raise AssertionError("unreachable")

    async def stream(self, request: ChatRequest, fallbacks: Sequence[str] = ()) -> AsyncGenerator[PoolEvent, None]:
        """Stream ``request.model``; on failure emit :class:`Fallback` and continue with the next one."""
        candidates = [request.model, *fallbacks]
        for i, mid in enumerate(candidates):
            sent: list[str] = []
            try:
                async for ev in self.provider(mid).stream(replace(request, model=mid)):
                    if isinstance(ev, TextDelta):
                        sent.append(ev.text)
                    yield ev
                return
            except ProviderError as e:
                if i == len(candidates) - 1:
                    raise
                yield Fallback(mid, candidates[i + 1], str(e), e.partial or "".join(sent))

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> ModelPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
