"""Test doubles that speak real protocols: a loopback OpenAI-compatible upstream with faults."""

from coe.testing.upstream import Behaviour, Blackhole, FakeUpstream, refused_url

__all__ = ["Behaviour", "Blackhole", "FakeUpstream", "refused_url"]
