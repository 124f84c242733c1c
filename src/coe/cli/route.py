"""``coe route``: see where a query goes; evaluate and train the router."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from coe.cli.common import err, fail, out, settings
from coe.errors import CoeError, InputError

SUBCOMMANDS = ("eval", "train", "learn-from-arena")
HELP = """Route a query, or manage the router.

  coe route "query" [--json]        category, confidence, candidate models, sub-tasks
  coe route eval FILE.jsonl [--json] accuracy, per-category precision/recall, confusion, p50/p99 latency
  coe route train [FILE.jsonl]       train the classifier on FILE (or the shipped examples); --reset goes back
  coe route learn-from-arena         arena ratings per category → the dispatch table
"""


def route(
    args: Annotated[list[str], typer.Argument(help="A query, or: eval FILE | train [FILE]", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="With train: back to the shipped route set.")] = False,
    if_needed: Annotated[bool, typer.Option("--if-needed", help="With train: only when no trained router "
                                                                "matches the examples.")] = False,
) -> None:
    from coe.providers.pool import ModelPool
    from coe.router.service import RouterService

    try:
        s = settings()
        svc = RouterService(s, ModelPool(s) if s.file.router.kind == "llm" else None)
        if args[0] == "eval":
            _eval(svc, args[1:], as_json)
        elif args[0] == "train":
            _train(svc, args[1:], reset, if_needed)
        elif args[0] == "learn-from-arena":
            _learn(s, as_json)
        else:
            _route(svc, " ".join(args), as_json)
    except CoeError as e:
        raise fail(e) from None


route.__doc__ = HELP


def _route(svc: Any, query: str, as_json: bool) -> None:
    if not query.strip():
        raise InputError("the query is empty", hint='coe route "your question"')
    res = svc.explain(query)
    if as_json:
        print(json.dumps(res, ensure_ascii=False))
        return
    out.print(f"[bold]{res['category']}[/] ({res['confidence']:.2f}, {res['method']}"
              f"{'' if res['confident'] else ', below threshold → default'})")
    out.print(f"candidates: {', '.join(res['candidates']) or '(none available)'}")
    for st in res["subtasks"]:
        out.print(f"  • [cyan]{st['category']}[/] {st['text']} → {', '.join(st['candidates'][:2])}")


def _eval(svc: Any, rest: list[str], as_json: bool) -> None:
    from coe.router.data import load_jsonl
    from coe.router.evaluate import evaluate

    if len(rest) != 1:
        raise InputError("usage: coe route eval FILE.jsonl", hint='each line: {"query": ..., "category": ...}')
    report = evaluate(svc.router(), load_jsonl(rest[0]))
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    table = Table(title=f"accuracy {report['accuracy']:.1%} on {report['n']} · p50 {report['p50_ms']} ms · "
                        f"p99 {report['p99_ms']} ms")
    for col in ("category", "precision", "recall", "n"):
        table.add_column(col)
    for c, v in report["per_category"].items():
        table.add_row(c, f"{v['precision']:.2f}", f"{v['recall']:.2f}", str(v["n"]))
    out.print(table)


def _train(svc: Any, rest: list[str], reset: bool, if_needed: bool) -> None:
    if reset:
        svc.reset()
    if len(rest) > 1:
        raise InputError("usage: coe route train [FILE.jsonl]")
    if if_needed and not rest and svc.is_trained():
        err.print("[green]✓[/] router already trained")
        return
    if rest:
        from coe.router.data import load_jsonl

        load_jsonl(rest[0])  # a bad file fails here, in one line, before any work
    err.print("training the router (the first run embeds the examples; this takes a little while)…")
    router = svc.train(rest[0] if rest else None)
    err.print(f"[green]✓[/] router trained on {router.state['n']} examples "
              f"({len(router.classes)} categories) → {svc.dir / 'classifier.pkl'}")


def _learn(s: Any, as_json: bool) -> None:
    from coe.arena.learn import learn_dispatch
    from coe.arena.repo import ArenaRepo
    from coe.router.dispatch import save_learned
    from coe.store.repo import open_store

    table, details = learn_dispatch(ArenaRepo(open_store(s.database_url)).votes())
    path = save_learned(s.home, table, details)
    if as_json:
        print(json.dumps({"dispatch": table, "details": details, "file": str(path)}, ensure_ascii=False))
        return
    if not details:
        err.print("no categorized arena votes yet — run `coe arena battle` and vote")
    for cat, d in details.items():
        if d["learned"]:
            out.print(f"[green]✓[/] {cat}: {' > '.join(table[cat][:3])}")
        else:
            out.print(f"[dim]· {cat}: not learned ({d.get('reason')})[/]")
    err.print(f"dispatch table → {path}")
