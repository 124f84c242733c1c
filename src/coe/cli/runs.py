"""``coe runs list`` / ``coe runs show RUN_ID``: stored traces."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from coe.cli.common import fail, out, settings
from coe.errors import CoeError
from coe.store.repo import RunRecord, open_store

app = typer.Typer(help="Stored runs (traces).", no_args_is_help=True)


def run_json(r: RunRecord) -> dict[str, Any]:
    d = asdict(r)
    d["created_at"] = r.created_at.isoformat()
    d["finished_at"] = r.finished_at.isoformat() if r.finished_at else None
    d["cost_usd"] = r.cost.total_usd
    for s, rec in zip(d["stages"], r.stages, strict=True):
        s["cost_usd"] = rec.cost.total_usd
        del s["cost"]
    del d["cost"]
    return d


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The most recent runs."""
    try:
        store = open_store(settings().database_url)
        runs = store.list_runs(limit)
    except CoeError as e:
        raise fail(e) from None
    if as_json:
        print(json.dumps([run_json(r) for r in runs], ensure_ascii=False, indent=1))
        return
    table = Table(title=f"last {len(runs)} runs")
    for col in ("id", "when", "mode", "status", "question", "tokens", "cost $", "time"):
        table.add_column(col, overflow="ellipsis", no_wrap=col != "question")
    for r in runs:
        table.add_row(r.id[:12], r.created_at.strftime("%m-%d %H:%M:%S"), r.mode, r.status,
                      r.question[:60].replace("\n", " "), str(r.usage.total_tokens), f"{r.cost.total_usd:.5f}",
                      f"{r.latency_ms / 1000:.1f}s")
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of it.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run's trace: each stage's prompt, output, model, usage, errors and fallbacks."""
    try:
        r = open_store(settings().database_url).get_run(run_id)
    except CoeError as e:
        raise fail(e) from None
    if as_json:
        print(json.dumps(run_json(r), ensure_ascii=False, indent=1))
        return
    out.print(f"[bold]run {r.id}[/] · {r.mode} · {r.status} · {r.created_at:%Y-%m-%d %H:%M:%S}")
    out.print(f"[bold]question:[/] {r.question}")
    if r.route:
        out.print(f"[bold]route:[/] {json.dumps(r.route, ensure_ascii=False)}")
    out.print(f"[bold]team:[/] {', '.join(r.team)}")
    for s in sorted(r.stages, key=lambda s: s.seq):
        title = f"{s.seq}. {s.stage} · {s.role} · {s.model} · {s.status}"
        body = [f"[dim]{s.usage.input_tokens}→{s.usage.output_tokens} tokens · ${s.cost.total_usd:.6f} · "
                f"{s.latency_ms / 1000:.1f}s[/]"]
        for a in s.attempts:
            body.append(f"[yellow]attempt {a.get('model')}: {a.get('error')}[/]")
            if a.get("partial"):
                body.append(f"[dim]  received before failing: {a['partial'][:200]!r}[/]")
        body += ["[bold]prompt[/]", _esc(s.prompt), "[bold]output[/]", _esc(s.output or "(none)")]
        if s.error:
            body.append(f"[red]error: {_esc(s.error)}[/]")
        out.print(Panel("\n".join(body), title=title, title_align="left"))
    out.print(f"[bold]answer:[/] {_esc(r.answer or '')}" if r.answer else f"[red]error: {_esc(r.error or '')}[/]")
    out.print(f"[dim]totals: {r.usage.input_tokens}→{r.usage.output_tokens} tokens · ${r.cost.total_usd:.6f} · "
              f"{r.latency_ms / 1000:.1f}s[/]")


def _esc(text: str) -> str:
    return text.replace("[", r"\[")
