"""Embedded local models: GGUF files shipped on PyPI, assembled into the model cache and served by
llama.cpp (xllamacpp) in-process on loopback."""

from coe.embedded.specs import EMBEDDED_MODELS, EmbeddedSpec, spec_for

__all__ = ["EMBEDDED_MODELS", "EmbeddedSpec", "spec_for"]
