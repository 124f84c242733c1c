"""``coe ask``: answer a question in a mode, showing each stage live."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from coe.api import RunCollector, run
from coe.cli.common import err, settings
from coe.cli.common import run as run_sync
from coe.cli.render import LiveRenderer
from coe.errors import InputError
from coe.providers.pool import ModelPool
from coe.retrieval.mindmap import build_tree, check_output_path, write_mindmap
from coe.workflows.base import builtin_names
from coe.workflows.engine import DEFAULT_MODE
from coe.workflows.team import parse_team


def _read_question(question: str) -> str:
    if question != "-":
        return question
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("stdin is not UTF-8 text", hint="pipe a text file") from None


def result_json(c: RunCollector) -> dict[str, Any]:
    res = c.result()
    t = res.totals
    return {
        "answer": res.answer, "mode": res.mode, "run_id": res.run_id, "model": res.model,
        "usage": {"input_tokens": t.usage.input_tokens, "output_tokens": t.usage.output_tokens,
                  "total_tokens": t.usage.total_tokens},
        "cost": {"input_usd": t.cost.input_usd, "output_usd": t.cost.output_usd, "total_usd": t.cost.total_usd},
        "latency_ms": round(t.latency_ms, 1),
        "stages": [{"stage": s.stage, "role": s.role, "model": s.model, "output": s.output, "usage": s.usage,
                    "cost": s.cost_usd, "latency_ms": s.latency_ms, "status": s.status, "error": s.error}
                   for s in res.stages],
        "totals": {"input_tokens": t.usage.input_tokens, "output_tokens": t.usage.output_tokens,
                   "cost_usd": t.cost.total_usd, "latency_ms": round(t.latency_ms, 1), "stages": t.stages},
        "references": res.references,
        **{k: v for k, v in res.extras.items() if k not in ("references",)},
    }


async def _ask(question: str, mode: str, team: list[str] | None, fallback: list[str] | None, stream: bool,
               as_json: bool, kb: str | None, use_kb: bool, mindmap: str | None) -> None:
    question = _read_question(question)
    if mindmap is not None:
        check_output_path(mindmap)
    collector = RunCollector()
    live = LiveRenderer(err) if stream and not as_json else None
    async for ev in run(question, mode=mode, team=team, fallbacks=fallback, settings=settings(), kb=kb,
                        use_kb=use_kb):
        collector.add(ev)
        if live:
            live.handle(ev)
    res = collector.result()
    if mindmap is not None:
        async with ModelPool(settings()) as pool:
            tree, made_by = await build_tree(res.answer, question, pool, res.model or pool.default_model())
        write_mindmap(res.answer, question, mindmap, tree)
        err.print(f"[dim]mind map ({'by the model' if made_by == 'model' else 'from the answer'}) → {mindmap}[/]")
    if as_json:
        print(json.dumps(result_json(collector), ensure_ascii=False))
        return
    if not live:
        print(res.answer)
    elif res.answer != collector.streamed_final:  # citations and references were added after streaming
        refs = res.answer[len(collector.streamed_final):] if res.answer.startswith(collector.streamed_final) else ""
        print(refs.strip() if refs.strip() else "\n" + res.answer)
    t = res.totals
    err.print(f"[dim]{res.mode} · {res.model} · {t.usage.input_tokens}→{t.usage.output_tokens} tokens · "
              f"${t.cost.total_usd:.6f} · {t.latency_ms / 1000:.1f}s · run {res.run_id[:12]}[/]")


def ask(
    question: Annotated[str, typer.Argument(help="The question; '-' reads it from stdin.")],
    mode: Annotated[str, typer.Option("--mode", help=f"Answer mode: {', '.join(builtin_names())} "
                                                     "(or one of your own workflows).")] = DEFAULT_MODE,
    model: Annotated[str | None, typer.Option("--model", "-m", help="One catalog model for every role "
                                                                    "(see `coe models`).")] = None,
    team: Annotated[str | None, typer.Option(help="Comma-separated models that fill the roles in order.")] = None,
    fallback: Annotated[str | None, typer.Option(help="Comma-separated models to try when one fails.")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Show stages and tokens live.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: answer, mode, run_id, model, "
                                                         "usage, cost, latency_ms, stages, totals, references.")]
    = False,
    kb: Annotated[str | None, typer.Option("--kb", help="Knowledge base to cite (default: your 'default' KB, "
                                                         "else the demo one).")] = None,
    no_kb: Annotated[bool, typer.Option("--no-kb", help="Answer without the knowledge base.")] = False,
    mindmap: Annotated[str | None, typer.Option("--mindmap", help="Write a mind map of the answer: .svg, .md, "
                                                                  ".mmd (Mermaid) or .json.")] = None,
) -> None:
    """Answer a question (with the embedded local models when no API key is set)."""
    members = parse_team(team) if team is not None else ([model] if model else None)
    fb = parse_team(fallback) if fallback is not None else None
    run_sync(_ask(question, mode, members, fb, stream, as_json, kb, not no_kb, mindmap))
