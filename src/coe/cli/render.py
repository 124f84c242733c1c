"""Live terminal rendering of a run: each stage's header, streaming text and stats.

The final stage streams to stdout (so ``coe ask ... > answer.txt`` keeps just the answer); intermediate
stages go to stderr. When stages run in parallel one streams live and the others print when they finish.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rich.console import Console

from coe.events import RunEvent, RunStarted, StageFailed, StageFinished, StageStarted, Token

SINGLE_STAGE_ROLES = {"answerer"}


@dataclass
class _Buf:
    role: str
    model: str
    text: list[str] = field(default_factory=list)


class LiveRenderer:
    def __init__(self, err: Console) -> None:
        self.err = err
        self.final = ""
        self.live: str | None = None
        self.bufs: dict[str, _Buf] = {}
        self.quiet_headers = False

    def _out(self, key: str, text: str) -> None:
        if key == self.final:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            self.err.print(text, end="", style="dim", markup=False, highlight=False)

    def _header(self, key: str, b: _Buf) -> None:
        if not self.quiet_headers:
            self.err.print(f"[bold cyan]▸ {key}[/] [dim]({b.role} · {b.model})[/]")

    def handle(self, ev: RunEvent) -> None:
        if isinstance(ev, RunStarted):
            self.final = ev.final
        elif isinstance(ev, StageStarted):
            b = self.bufs[ev.stage] = _Buf(ev.role, ev.model)
            self.quiet_headers = self.quiet_headers or (ev.role in SINGLE_STAGE_ROLES and ev.stage == self.final)
            if self.live is None:
                self.live = ev.stage
                self._header(ev.stage, b)
        elif isinstance(ev, Token):
            if ev.reasoning:
                return
            b = self.bufs[ev.stage]
            b.text.append(ev.text)
            if self.live == ev.stage:
                self._out(ev.stage, ev.text)
        elif isinstance(ev, StageFinished):
            self._finish(ev.stage, f"{ev.usage.input_tokens}→{ev.usage.output_tokens} tokens · "
                                   f"${ev.cost.total_usd:.6f} · {ev.latency_ms / 1000:.1f}s")
        elif isinstance(ev, StageFailed):
            if ev.fallback_to:
                self.err.print(f"\n[yellow]{ev.stage}: {ev.model} failed ({ev.error}); "
                               f"trying {ev.fallback_to}[/]")
                if ev.stage in self.bufs:
                    self.bufs[ev.stage].text.clear()
                if self.live == ev.stage:
                    self.live = None
                return
            self._finish(ev.stage, f"[red]{'skipped' if ev.skipped else 'failed'}: {ev.error}[/]")

    def _finish(self, key: str, stats: str) -> None:
        b = self.bufs.get(key)
        if b is None:
            return
        if self.live != key:  # print the buffered stage whole
            self._header(key, b)
            self._out(key, "".join(b.text))
        if key == self.final:
            sys.stdout.write("\n")
            sys.stdout.flush()
        elif b.text:
            self.err.print()
        if not self.quiet_headers or key != self.final:
            self.err.print(f"[dim]  {stats}[/]")
        self.bufs.pop(key)
        if self.live == key:
            self.live = None
            if self.bufs:  # next running stage goes live with what it has so far
                nxt, nb = next(iter(self.bufs.items()))
                self.live = nxt
                self._header(nxt, nb)
                self._out(nxt, "".join(nb.text))
