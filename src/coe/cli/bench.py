"""``coe bench run|report|list``: the benchmark harness (docs/benchmark.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from coe.bench import html as html_report
from coe.bench import report as report_mod
from coe.bench.runner import BenchConfig, BenchRunner
from coe.bench.runner import Progress as BenchProgress
from coe.bench.store import BenchRepo
from coe.bench.suites import get_suite, suite_names
from coe.bench.systems import parse_systems
from coe.cli.common import err, fail, out, settings
from coe.cli.common import run as run_sync
from coe.errors import CoeError, InputError
from coe.providers.pool import ModelPool
from coe.store.repo import open_store

app = typer.Typer(help="Benchmarks: run suites against systems, report accuracy, cost and latency.",
                  no_args_is_help=True)


def _write(path: str, text: str) -> None:
    try:
        Path(path).expanduser().write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write {path} ({e.strerror})", hint="choose a writable path") from None


class _Bar:
    """A rich progress bar on stderr fed by the runner's progress events."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 TextColumn("[dim]{task.fields[last]}"), console=err, disable=not enabled)
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, ev: BenchProgress) -> None:
        if ev.phase not in self.tasks:
            self.tasks[ev.phase] = self.progress.add_task("answering" if ev.phase == "answer" else "judging",
                                                          total=ev.total, completed=ev.done, last="")
        last = f"{ev.system} {ev.item} {ev.status}" if ev.item else ""
        self.progress.update(self.tasks[ev.phase], completed=ev.done, total=ev.total, last=last[-60:])


async def _run(cfg: BenchConfig, run_id: str | None, new: bool, show: bool, as_json: bool,
               html_path: str | None) -> None:
    s = settings()
    store = open_store(s.database_url)
    bar = _Bar(show)
    try:
        async with ModelPool(s) as pool:
            runner = BenchRunner(s, pool, store, on_progress=bar)
            run, resumed, cfg = runner.prepare(cfg, run_id=run_id, new=new)
            stored = len(runner.repo.results(run.id))
            verb = f"resuming {run.id[:12]} ({stored} results stored)" if resumed else f"run {run.id[:12]}"
            err.print(f"[bold]{verb}[/]: suite {cfg.suite}, {run.n_items} items × {len(cfg.systems)} systems, "
                      f"concurrency {cfg.concurrency}")
            with bar.progress:
                summary = await runner.run(cfg, run, resumed)
        rep = report_mod.build(run, BenchRepo(store).results(run.id))
    finally:
        store.close()
    err.print(f"[dim]{summary.answered} answered, {summary.judged} judged, {summary.skipped} already done, "
              f"{summary.errors} errors, {summary.rate_limit_waits} rate-limit waits, {summary.seconds:.0f}s · "
              f"`coe bench report {run.id[:12]}`[/]")
    for e in summary.errors_seen[:3]:
        err.print(f"[yellow]error[/] {e[:300]}", markup=True, highlight=False)
    if html_path:
        _write(html_path, html_report.page(rep))
        err.print(f"[dim]HTML report → {html_path}[/]")
    print(json.dumps(rep.as_dict(), ensure_ascii=False, indent=1) if as_json else report_mod.markdown(rep))


@app.command("run")
def run_cmd(
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated: coe-collab, coe-auto, coe-<mode>, or "
                                                           "model ids from `coe models`.")] = "",
    suite: Annotated[str, typer.Option("--suite", help=f"One of: {', '.join(suite_names())}.")] = "objective",
    judge: Annotated[str | None, typer.Option("--judge", help="Judge model for subjective items.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Pairwise baseline system (default: the "
                                                                    "first system).")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, max=64)] = 4,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Items to sample (spread evenly over "
                                                                           "the suite's parts).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=16, help="Cap every answer's length.")]
    = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)] = 0.0,
    resume: Annotated[str | None, typer.Option("--resume", help="Resume this run id (its own parameters).")] = None,
    new: Annotated[bool, typer.Option("--new", help="Start afresh even if a run with the same parameters "
                                                    "exists.")] = False,
    html: Annotated[str | None, typer.Option("--html", help="Also write the HTML report here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Run a suite against systems; results are stored per item, so re-running resumes."""
    try:
        names = parse_systems(systems) if systems or not resume else []
        cfg = BenchConfig(suite, names, limit, seed, judge, baseline, max_tokens, temperature, concurrency)
    except CoeError as e:
        raise fail(e) from None
    run_sync(_run(cfg, resume, new, progress, as_json, html))


@app.command("report")
def report_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix), see `coe bench list`.")],
    html: Annotated[str | None, typer.Option("--html", help="Write the HTML report (tables + plots) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Per-category table, overall score, cost and latency per system; judge statistics."""
    try:
        store = open_store(settings().database_url)
        try:
            repo = BenchRepo(store)
            run = repo.get(run_id)
            rep = report_mod.build(run, repo.results(run.id))
        finally:
            store.close()
        if html:
            _write(html, html_report.page(rep))
            err.print(f"[dim]HTML report → {html}[/]")
    except CoeError as e:
        raise fail(e) from None
    print(json.dumps(rep.as_dict(), ensure_ascii=False, indent=1) if as_json else report_mod.markdown(rep))


@app.command("list")
def list_cmd(
    suites: Annotated[bool, typer.Option("--suites", help="List the suites instead of the runs.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent benchmark runs (or, with --suites, the suites)."""
    try:
        rows: list[dict[str, Any]]
        if suites:
            rows = [{"suite": n, "kind": (su := get_suite(n)).kind, "description": su.description}
                    for n in suite_names()]
        else:
            store = open_store(settings().database_url)
            try:
                repo = BenchRepo(store)
                rows = [{"id": r.id, "suite": r.suite, "systems": r.systems, "status": r.status, "items": r.n_items,
                         "results": len(repo.results(r.id)), "created_at": r.created_at.isoformat()}
                        for r in repo.recent(limit)]
            finally:
                store.close()
    except CoeError as e:
        raise fail(e) from None
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table(title="benchmark suites" if suites else f"last {len(rows)} benchmark runs")
    for col in rows[0] if rows else ["id"]:
        table.add_column(col, overflow="fold", no_wrap=col != "systems" and col != "description",
                         min_width=36 if col == "systems" else None)
    for row in rows:
        table.add_row(*[str(v)[5:16].replace("T", " ") if k == "created_at" else
                        ("\n".join(v) if isinstance(v, list) else str(v)[:12] if k == "id" else str(v))
                        for k, v in row.items()])
    out.print(table)
