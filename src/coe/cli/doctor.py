"""``coe doctor``: what this installation can do, and what is missing. Never prints a key."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Annotated

import typer
from rich.table import Table

from coe.cli.common import fail, out, settings
from coe.embedded import EMBEDDED_MODELS
from coe.embedded.store import verify
from coe.errors import CoeError
from coe.providers.pool import ModelPool


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def doctor(
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash the embedded model files (slow).")] = False,
) -> None:
    """Check config, keys (presence only), embedded models and versions; exit 1 if CoE cannot answer."""
    problems: list[str] = []
    try:
        s = settings()
        pool = ModelPool(s)
    except CoeError as e:
        raise fail(e) from None
    out.print(f"coe-llm {_version('coe-llm')} · Python {platform.python_version()} · "
              f"xllamacpp {_version('xllamacpp')} · aiohttp {_version('aiohttp')}")
    out.print(f"config: {s.path or 'none (using defaults)'}")
    out.print(f"home:   {s.home}")
    out.print(f"catalog: {len(pool.catalog)} models, {len(pool.catalog.vendors)} vendors, "
              f"prices as of {pool.catalog.prices_as_of}")

    keys = Table(title="API keys (values never shown)")
    keys.add_column("vendor")
    keys.add_column("variable")
    keys.add_column("status")
    for v in pool.catalog.vendors.values():
        if not v.key_env:
            continue
        found = s.api_key(v.id, v.key_env) is not None
        source = "config file" if v.id in s.file.keys else "environment"
        keys.add_row(v.id, v.key_env, f"[green]set ({source})[/]" if found else "[dim]not set[/]")
    out.print(keys)

    emb = Table(title=f"embedded models in {s.models_dir}")
    emb.add_column("model")
    emb.add_column("size")
    emb.add_column("status")
    n_ok = 0
    for sp in EMBEDDED_MODELS:
        ok = verify(s.models_dir, sp, deep=deep)
        n_ok += ok
        status = "[green]verified[/]" if ok else (
            "[yellow]not installed (optional)[/]" if not sp.light else "[red]missing — run `coe models pull`[/]")
        if not ok and sp.light:
            problems.append(f"{sp.model_id} missing")
        emb.add_row(sp.model_id, f"{sp.size / 1e6:.0f} MB", status)
    out.print(emb)

    from coe.router.service import RouterService
    from coe.store.repo import open_store, safe_url

    try:
        open_store(s.database_url).close()
        out.print(f"store: {safe_url(s.database_url)} [green]ok[/]")
    except CoeError as e:
        problems.append(str(e))
    try:
        trained = RouterService(s).is_trained()
    except CoeError:
        trained = False
    out.print("router: " + ("[green]trained[/]" if trained else
                            "[yellow]not trained yet (trains on first use; `coe route train`)[/]"))

    if n_ok and _version("xllamacpp") == "missing":
        problems.append("xllamacpp (llama.cpp runtime) is not installed")
    avail = pool.available()
    if not avail:
        problems.append("no model can answer: set a vendor key or run `coe models pull`")
    else:
        out.print(f"available: {len(avail)} models; default: [bold]{pool.default_model()}[/]")
    if problems:
        raise fail("; ".join(problems))
    out.print("[green]ok[/]")
