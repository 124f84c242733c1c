"""Wire name → provider factory. Built-ins register here exactly as a user plugin would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coe.catalog import ModelInfo, VendorInfo
from coe.config import Settings
from coe.embedded.runtime import EmbeddedRuntime, runtime
from coe.errors import ConfigError, MissingKeyError
from coe.providers.anthropic import AnthropicAdapter
from coe.providers.base import Provider, WireAdapter
from coe.providers.fake import FakeProvider
from coe.providers.http import RetryPolicy, Timeouts, Transport
from coe.providers.local import EmbeddedProvider
from coe.providers.openai_compat import OpenAIChatAdapter
from coe.providers.remote import HttpProvider


@dataclass(frozen=True)
class ProviderContext:
    settings: Settings
    transport: Transport
    retry: RetryPolicy
    runtime: EmbeddedRuntime


ProviderFactory = Callable[[ModelInfo, VendorInfo, ProviderContext], Provider]


class Registry:
    def __init__(self) -> None:
        self._factories: dict[str, ProviderFactory] = {}

    def register(self, wire: str, factory: ProviderFactory) -> None:
        self._factories[wire] = factory

    def wires(self) -> list[str]:
        return sorted(self._factories)

    def create(self, info: ModelInfo, vendor: VendorInfo, ctx: ProviderContext) -> Provider:
        try:
            factory = self._factories[vendor.wire]
        except KeyError:
            raise ConfigError(f"no provider for wire format '{vendor.wire}'", key=f"vendors.{vendor.id}.wire",
                              hint=f"use one of {', '.join(self.wires())}") from None
        return factory(info, vendor, ctx)


def base_url_for(vendor: VendorInfo, settings: Settings) -> str:
    if vendor.base_url_env and settings.env.get(vendor.base_url_env):
        return settings.env[vendor.base_url_env]
    return vendor.base_url


def http_factory(adapter: Callable[[], WireAdapter]) -> ProviderFactory:
    def make(info: ModelInfo, vendor: VendorInfo, ctx: ProviderContext) -> Provider:
        key = ctx.settings.api_key(vendor.id, vendor.key_env)
        if key is None and vendor.key_env and not vendor.local:
            raise MissingKeyError(info.id, vendor.key_env)
        http = ctx.settings.http
        return HttpProvider(info, vendor, adapter(), ctx.transport, base_url=base_url_for(vendor, ctx.settings),
                            key=key, retry=ctx.retry,
                            timeouts=Timeouts(connect_s=http.connect_timeout_s, read_s=http.read_timeout_s),
                            total_timeout_s=http.timeout_s)
    return make


def _embedded(info: ModelInfo, vendor: VendorInfo, ctx: ProviderContext) -> Provider:
    return EmbeddedProvider(info, vendor, ctx.settings, ctx.transport, ctx.runtime)


def _fake(info: ModelInfo, vendor: VendorInfo, ctx: ProviderContext) -> Provider:
    return FakeProvider(info)


def default_registry() -> Registry:
    reg = Registry()
    reg.register("openai", http_factory(OpenAIChatAdapter))
    reg.register("anthropic", http_factory(AnthropicAdapter))
    reg.register("embedded", _embedded)
    reg.register("fake", _fake)
    return reg


def default_context(settings: Settings, transport: Transport) -> ProviderContext:
    return ProviderContext(settings, transport, RetryPolicy.from_settings(settings.http), runtime())


__all__ = ["ProviderContext", "ProviderFactory", "Registry", "default_context", "default_registry"]
