"""Shared CLI plumbing: settings from --config, running coroutines, one-line errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from coe.config import Settings, load_settings
from coe.errors import CoeError

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    config: str | None = None


state = State()


def settings() -> Settings:
    return load_settings(state.config)


def fail(e: CoeError | str, code: int = 1) -> typer.Exit:
    """Print one line on stderr; return the Exit to raise."""
    err.print(f"[bold red]error:[/] {e}", markup=True, highlight=False) if sys.stderr.isatty() \
        else print(f"error: {e}", file=sys.stderr)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; user-facing errors become one line and exit code 1, Ctrl-C exits 130."""
    try:
        return asyncio.run(coro)
    except CoeError as e:
        raise fail(e) from None
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        raise typer.Exit(130) from None
