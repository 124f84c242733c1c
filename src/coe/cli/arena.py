"""``coe arena``: battles in the terminal, votes, leaderboards, import/export, vendor feedback."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.columns import Columns
from rich.panel import Panel
from rich.table import Table

from coe.cli.common import err, fail, out, run, settings
from coe.errors import CoeError, InputError

app = typer.Typer(help="Model arena: side-by-side battles, votes, Bradley–Terry leaderboard.", no_args_is_help=True)


def _store() -> Any:
    from coe.store.repo import open_store

    return open_store(settings().database_url)


def _reveal(b: Any) -> None:
    names = ", ".join(f"{a.label} = {a.model}" for a in sorted(b.answers, key=lambda a: a.position))
    out.print(f"[bold]revealed:[/] {names}")


@app.command()
def battle(
    prompt: Annotated[str, typer.Argument(help="The prompt every model answers.")],
    models: Annotated[str | None, typer.Option(help="Comma-separated models (named battle).")] = None,
    anonymous: Annotated[bool, typer.Option("--anonymous", help="Random distinct models, names hidden "
                                                                "until you vote.")] = False,
    n: Annotated[int, typer.Option("--n", min=2, max=6, help="Models in an anonymous battle.")] = 3,
    vote: Annotated[str | None, typer.Option(help="Vote without a prompt: 1–N, A–F, a model id, tie or bad.")]
    = None,
    comment: Annotated[str | None, typer.Option(help="Comment stored with the vote.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Models answer side by side; then vote (in the terminal, or with --vote)."""
    from coe.arena.battles import BattleReady, run_battle
    from coe.arena.repo import ArenaRepo
    from coe.providers.pool import ModelPool
    from coe.router.service import RouterService

    if models and anonymous:
        raise fail("choose --models or --anonymous, not both")
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None

    async def go() -> Any:
        s = settings()
        store = _store()
        async with ModelPool(s) as pool:
            ready = None
            async for ev in run_battle(prompt, pool=pool, store=store, models=chosen, n=n,
                                       anonymous=not chosen, router=RouterService(s, pool), max_tokens=max_tokens):
                if isinstance(ev, BattleReady):
                    ready = ev.battle
                elif getattr(ev, "type", "") == "stage_finished" and not as_json:
                    err.print(f"[dim]{ev.model} answered ({ev.latency_ms / 1000:.1f}s)[/]")  # type: ignore[union-attr]
            return store, ready

    store, b = run(go())
    if as_json and not vote:
        print(json.dumps(b.public(), ensure_ascii=False))
        return
    if not as_json:
        panels = [Panel(a.answer or f"[red]{a.error}[/]", title=a.label if b.anonymous else f"{a.label}: {a.model}",
                        expand=True) for a in sorted(b.answers, key=lambda a: a.position)]
        out.print(Columns(panels, equal=True, expand=True))
    choice = vote
    if choice is None:
        if not sys.stdin.isatty():
            err.print(f"battle {b.id}: vote with `coe arena vote {b.id} 1|2|…|tie|bad`")
            return
        choice = typer.prompt(f"Which is best? 1–{len(b.models)}, tie, bad (or skip)").strip()
        if choice.lower() in ("", "skip", "s"):
            err.print(f"skipped; vote later with `coe arena vote {b.id} …`")
            return
        comment = comment or typer.prompt("Comment (optional)", default="", show_default=False) or None
    try:
        voted = ArenaRepo(store).vote(b.id, choice, comment=comment, voter="cli")
    except CoeError as e:
        raise fail(e) from None
    if as_json:
        print(json.dumps(voted.public(), ensure_ascii=False))
    else:
        _reveal(voted)


@app.command("vote")
def vote_cmd(
    battle_id: Annotated[str, typer.Argument()],
    choice: Annotated[str, typer.Argument(help="1–N, A–F, a model id of the battle, tie or bad.")],
    comment: Annotated[str | None, typer.Option()] = None,
    voter: Annotated[str | None, typer.Option(help="Who votes (for per-voter rate limits).")] = None,
) -> None:
    """Vote on a battle (once); reveals anonymous models."""
    from coe.arena.repo import ArenaRepo

    try:
        _reveal(ArenaRepo(_store()).vote(battle_id, choice, comment=comment, voter=voter))
    except CoeError as e:
        raise fail(e) from None


def _load_battles_file(path: str) -> list[Any]:
    from coe.arena.ratings import from_arena_rows
    from coe.jsonl import read_jsonl

    try:
        return from_arena_rows([obj for _, obj in read_jsonl(path)])
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None


@app.command()
def leaderboard(
    battles: Annotated[str | None, typer.Option(help="Chatbot Arena JSONL file (computed from it alone).")] = None,
    category: Annotated[str | None, typer.Option(help="Only battles whose prompt the router put here.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, max=5000, help="Bootstrap rounds for the intervals.")] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Bradley–Terry ratings (Elo scale, 95% intervals), battle counts and win rates."""
    from coe.arena.ratings import leaderboard as fit
    from coe.arena.repo import ArenaRepo

    try:
        votes = _load_battles_file(battles) if battles else ArenaRepo(_store()).votes(category)
        if battles and category:
            votes = [v for v in votes if v.category == category]
        if len({m for v in votes for m in v.models}) < 2:
            raise InputError("no votes yet between two models" + (f" in '{category}'" if category else ""),
                             hint="run `coe arena battle` and vote")
        lb = fit(votes, bootstrap=bootstrap)
    except CoeError as e:
        raise fail(e) from None
    if as_json:
        print(json.dumps({"category": category, "votes": len(votes), "models": lb.rows(),
                          "win_rate": lb.win_rates()}, ensure_ascii=False))
        return
    table = Table(title=f"leaderboard{f' · {category}' if category else ''} · {len(votes)} votes")
    for col in ("#", "model", "rating", "95% interval", "battles"):
        table.add_column(col)
    for r in lb.rows():
        table.add_row(str(r["rank"]), str(r["model"]), f"{r['rating']:.0f}", f"{r['lower']:.0f} – {r['upper']:.0f}",
                      str(r["battles"]))
    out.print(table)


@app.command("import")
def import_cmd(file: Annotated[str, typer.Argument(help="Chatbot Arena JSONL (model_a, model_b, winner).")]) -> None:
    """Import battles with their votes (all or nothing)."""
    from coe.arena.repo import ArenaRepo

    try:
        n = ArenaRepo(_store()).import_votes(_load_battles_file(file))
    except CoeError as e:
        raise fail(e) from None
    err.print(f"imported {n} battles")


@app.command()
def export(category: Annotated[str | None, typer.Option()] = None) -> None:
    """Export voted battles as Chatbot Arena JSONL (N-way votes become their pairs) to stdout."""
    from coe.arena.ratings import to_arena_rows
    from coe.arena.repo import ArenaRepo

    for v in ArenaRepo(_store()).votes(category):
        for row in to_arena_rows(v):
            print(json.dumps(row, ensure_ascii=False))


@app.command("export-feedback")
def export_feedback(
    vendor: Annotated[str | None, typer.Option(help="Vendor id, e.g. deepseek.")] = None,
    category: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Bad cases as JSONL on stdout (prompt, answer, model, vote, comment): answers that lost or were all bad."""
    from coe.arena.repo import ArenaRepo

    for row in ArenaRepo(_store()).bad_cases(vendor, category):
        print(json.dumps(row, ensure_ascii=False))
