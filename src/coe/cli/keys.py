"""``coe keys``: API keys for `coe serve` (stored hashed; a key is shown once)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from coe.cli.common import err, fail, out, settings
from coe.errors import CoeError
from coe.store.keys import KeyRepo
from coe.store.repo import open_store

app = typer.Typer(help="API keys for `coe serve`.", no_args_is_help=True)


def _repo() -> KeyRepo:
    try:
        return KeyRepo(open_store(settings().database_url))
    except CoeError as e:
        raise fail(e) from None


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    rate: Annotated[int | None, typer.Option(help="Requests per minute (default: unlimited).")] = None,
    budget: Annotated[float | None, typer.Option(help="Spending limit in USD (default: none).")] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    try:
        key, info = _repo().create(name, rate, budget)
    except CoeError as e:
        raise fail(e) from None
    print(key)
    err.print(f"[dim]key '{info.name}' ({info.prefix}…) created; it is not shown again. "
              f"rate: {info.rate_per_min or 'unlimited'}/min, budget: "
              f"{'$' + format(info.budget_usd, 'g') if info.budget_usd else 'none'}[/]")


@app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Keys (prefix, limits, spend) — never the keys themselves."""
    keys = _repo().list()
    if as_json:
        print(json.dumps([{"id": k.id, "name": k.name, "prefix": k.prefix, "rate_per_min": k.rate_per_min,
                           "budget_usd": k.budget_usd, "spent_usd": k.spent_usd, "revoked": k.revoked,
                           "created_at": k.created_at.isoformat()} for k in keys]))
        return
    table = Table(title=f"{len(keys)} keys")
    for col in ("id", "name", "prefix", "rate/min", "budget $", "spent $", "status"):
        table.add_column(col)
    for k in keys:
        table.add_row(k.id[:12], k.name, k.prefix + "…", str(k.rate_per_min or "—"),
                      f"{k.budget_usd:g}" if k.budget_usd else "—", f"{k.spent_usd:.4f}",
                      "revoked" if k.revoked else "active")
    out.print(table)


@app.command()
def revoke(key: Annotated[str, typer.Argument(help="Key id (or its prefix) or name.")]) -> None:
    """Revoke a key."""
    n = _repo().revoke(key)
    if not n:
        raise fail(f"no key matches '{key}' — see `coe keys list`")
    err.print(f"revoked {n} key(s)")
