"""Providers: one protocol over every vendor (HTTP wire adapters) and the embedded local models."""

from coe.providers.base import Provider, WireAdapter
from coe.providers.fake import FakeProvider, FakeScript
from coe.providers.pool import ModelPool
from coe.providers.registry import Registry, default_registry

__all__ = ["FakeProvider", "FakeScript", "ModelPool", "Provider", "Registry", "WireAdapter",
           "default_registry"]
