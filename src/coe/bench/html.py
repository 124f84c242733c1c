"""The report as one self-contained HTML page: tables and inline SVG plots (no plotting library)."""

from __future__ import annotations

import html
import json

from coe.bench.report import Report, markdown, table_rows

COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}td{white-space:nowrap}th{background:#f4f4f4}figure{margin:1rem 0}
figcaption{color:#555}.meta{color:#555}"""


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(title: str, groups: list[str], series: list[tuple[str, list[float | None]]], vmax: float,
              unit: str = "%") -> str:
    """Grouped bars: one group per category, one bar per system; values 0..vmax."""
    w_bar, h, top, left = 14, 220, 30, 44
    per = max(90, len(series) * w_bar + 24)
    gap = per - len(series) * w_bar
    width = max(left + per * len(groups) + 20, 420)
    height = h + top + 44 + 16 * len(series)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>']
    for k in range(0, 5):
        y = top + h - h * k / 4
        label = f"{vmax * k / 4:.0f}{unit}" if unit == "%" else f"{vmax * k / 4:g}"
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{label}</text>')
    for gi, g in enumerate(groups):
        x0 = left + gi * per + gap / 2
        for si, (name, vals) in enumerate(series):
            v = vals[gi]
            if v is None:
                continue
            bh = h * max(0.0, min(v, vmax)) / vmax
            parts.append(f'<rect x="{x0 + si * w_bar:.1f}" y="{top + h - bh:.1f}" width="{w_bar - 2}" '
                         f'height="{bh:.1f}" fill="{COLORS[si % len(COLORS)]}"><title>{_e(name)} · {_e(g)}: '
                         f'{v:.1f}{unit if unit == "%" else ""}</title></rect>')
        cx = x0 + len(series) * w_bar / 2
        parts.append(f'<text x="{cx:.1f}" y="{top + h + 14}" font-size="11" text-anchor="middle">{_e(g)}</text>')
    for si, (name, _) in enumerate(series):
        y = top + h + 38 + 16 * si
        x = left
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{COLORS[si % len(COLORS)]}"/>'
                     f'<text x="{x + 14}" y="{y}" font-size="11">{_e(name)}</text>')
    parts.append(f'<text x="{left}" y="16" font-size="13" font-weight="bold">{_e(title)}</text></svg>')
    return "".join(parts)


def scatter(title: str, points: list[tuple[str, float, float]], xlabel: str, ylabel: str) -> str:
    """Score (y, 0..1) against latency or cost (x), one labelled point per system."""
    w, h, left, top, right = 560, 260, 50, 30, 260
    xmax = max((p[1] for p in points), default=1.0) * 1.15 or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + left + right}" height="{h + top + 40}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#888"/>'
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#888"/>']
    for k in range(0, 5):
        y = top + h - h * k / 4
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{k * 25}%</text>'
                     f'<text x="{left + w * k / 4:.1f}" y="{top + h + 14}" font-size="10" text-anchor="middle">'
                     f'{xmax * k / 4:.3g}</text>')
    for i, (name, x, y) in enumerate(points):
        px, py = left + w * x / xmax, top + h - h * max(0.0, min(1.0, y))
        c = COLORS[i % len(COLORS)]
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{c}"><title>{_e(name)}: {y:.1%}, '
                     f'{x:.3g}</title></circle>'
                     f'<text x="{px + 7:.1f}" y="{py - 6:.1f}" font-size="11">{_e(name)}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{top + h + 32}" font-size="11" text-anchor="middle">{_e(xlabel)}</text>'
                 f'<text x="{left}" y="16" font-size="13" font-weight="bold">{_e(title)} ({_e(ylabel)})</text></svg>')
    return "".join(parts)


def page(rep: Report) -> str:
    r = rep.run
    oh, orows, sh, srows = table_rows(rep)
    body = [f"<h1>CoE benchmark {_e(r['id'][:12])}</h1>",
            f"<p class=meta>suite <b>{_e(r['suite'])}</b> · {r['items']} items · systems {_e(', '.join(r['systems']))}"
            f" · status {_e(r['status'])} · params {_e(json.dumps(r['params']))}"
            f" · started {_e(r['created_at'][:19])}</p>"]
    if orows:
        cats = rep.objective_categories
        series = [(s.system, [s.accuracy[c] * 100 if c in s.accuracy else None for c in cats] +
                   [s.objective * 100 if s.objective is not None else None]) for s in rep.systems if s.accuracy]
        pts = [(s.system, s.latency_mean_s or 0.0, s.objective or 0.0) for s in rep.systems if s.accuracy]
        body += ["<h2>Objective: accuracy by category</h2>", _table(oh, orows),
                 "<p>overall = mean of the category accuracies; an answer that failed counts as wrong.</p>",
                 f"<figure>{bar_chart('Accuracy by category', [*cats, 'overall'], series, 100.0)}"
                 "<figcaption>accuracy per category and system</figcaption></figure>",
                 f"<figure>{scatter('Accuracy vs latency', pts, 'mean latency per item (s)', 'overall accuracy')}"
                 "<figcaption>higher and further left is better</figcaption></figure>"]
    if srows:
        cats = rep.subjective_categories
        series = [(s.system, [s.rating.get(c) for c in cats]) for s in rep.systems if s.rating]
        j = rep.judge
        body += [f"<h2>Subjective: judge {_e(j['model'])}, grade 1-10, pairwise vs {_e(j['baseline'])}</h2>",
                 _table(sh, srows),
                 f"<p>judge: {j['calls']} calls, ${j['cost_usd']:.4f}; agreement with itself under swapped positions: "
                 f"{'–' if j['swap_agreement'] is None else format(j['swap_agreement'], '.0%')} of {j['pairs']} "
                 "pairs.</p>", f"<figure>{bar_chart('Judge grade by category', cats, series, 10.0, unit='')}</figure>"]
    if not orows and not srows:
        body.append("<p>no results yet</p>")
    body.append(f"<details><summary>Markdown</summary><pre>{_e(markdown(rep))}</pre></details>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>CoE benchmark {_e(r['id'][:12])}"
            f"</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
