"""Test doubles that speak real protocols: a loopback OpenAI-compatible upstream with faults."""

from coe.testing.upstream import Behaviour, FakeUpstream

__all__ = ["Behaviour", "FakeUpstream"]
