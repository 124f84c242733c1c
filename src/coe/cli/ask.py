"""``coe ask``: answer a question, streaming tokens to the terminal."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from coe.api import build_request, default_fallbacks
from coe.cli.common import err, run, settings
from coe.errors import InputError
from coe.providers.pool import ModelPool
from coe.types import Fallback, ReasoningDelta, TextDelta, Usage, UsageReport


def _read_question(question: str) -> str:
    if question == "-":
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("stdin is not UTF-8 text", hint="pipe a text file") from None
    return question


async def _ask(question: str, model: str | None, fallback: list[str] | None, stream: bool, as_json: bool,
               max_tokens: int | None, temperature: float | None, system: str | None) -> None:
    question = _read_question(question)
    async with ModelPool(settings()) as pool:
        mid = model or pool.default_model()
        if model:
            pool.catalog.model(model)  # unknown id → one clear line before anything else
        fallbacks = fallback if fallback is not None else ([] if model else default_fallbacks(pool, mid))
        request = build_request(question, mid, system=system, max_tokens=max_tokens, temperature=temperature)
        t0 = time.perf_counter()
        current = mid
        text: list[str] = []
        usage = Usage()
        fell: list[dict[str, str]] = []
        live = stream and not as_json
        async for ev in pool.stream(request, fallbacks):
            if isinstance(ev, TextDelta):
                text.append(ev.text)
                if live:
                    sys.stdout.write(ev.text)
                    sys.stdout.flush()
            elif isinstance(ev, ReasoningDelta) and live and sys.stderr.isatty():
                err.print(ev.text, end="", style="dim")
            elif isinstance(ev, UsageReport):
                usage = ev.usage
            elif isinstance(ev, Fallback):
                fell.append({"model": ev.from_model, "error": ev.error})
                if live:
                    if text:
                        sys.stdout.write("\n")
                    err.print(f"[yellow]{ev.from_model} failed ({ev.error}); trying {ev.to_model}[/]")
                text.clear()
                current = ev.to_model
        latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        info = pool.catalog.model(current)
        cost = info.cost(usage)
        answer = "".join(text)
        if as_json:
            print(json.dumps({
                "answer": answer, "model": current,
                "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                          "total_tokens": usage.total_tokens},
                "cost": {"input_usd": cost.input_usd, "output_usd": cost.output_usd,
                         "total_usd": cost.total_usd, "prices_as_of": pool.catalog.prices_as_of},
                "latency_ms": latency_ms, "fallbacks": fell,
            }, ensure_ascii=False))
            return
        if not live:
            sys.stdout.write(answer)
        sys.stdout.write("\n")
        sys.stdout.flush()
        err.print(f"[dim]{current} · {usage.input_tokens}→{usage.output_tokens} tokens · "
                  f"${cost.total_usd:.6f} · {latency_ms / 1000:.1f}s[/]")


def ask(
    question: Annotated[str, typer.Argument(help="The question; '-' reads it from stdin.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Catalog model id (see `coe models`).")]
    = None,
    fallback: Annotated[str | None, typer.Option(help="Comma-separated model ids to try if the model fails.")]
    = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print tokens as they arrive.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with answer, model, usage, "
                                                         "cost, latency_ms.")] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Longest answer, in tokens.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (0–2).")] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
) -> None:
    """Answer a question (with the embedded local models when no API key is set)."""
    fb = [m.strip() for m in fallback.split(",") if m.strip()] if fallback is not None else None
    run(_ask(question, model, fb, stream, as_json,
             max_tokens, temperature, system))
