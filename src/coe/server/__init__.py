"""The OpenAI-compatible HTTP server (`coe serve`)."""

from coe.server.app import create_app

__all__ = ["create_app"]
