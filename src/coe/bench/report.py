"""Reports of a benchmark run: per-category scores, an overall score, cost and latency per system; judge
statistics for subjective items. As a dict (JSON), Markdown, or one self-contained HTML page with inline SVG."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from coe.bench.judge import lc_win_rate, win_rate
from coe.bench.store import ResultRow, RunInfo

SUBJECTIVE = "subjective"


@dataclass
class SystemStats:
    system: str
    items: int = 0
    scored: int = 0
    errors: int = 0
    accuracy: dict[str, float] = field(default_factory=dict)  # objective category → mean score (0..1)
    rating: dict[str, float] = field(default_factory=dict)  # subjective category → mean judge grade (1..10)
    counts: dict[str, int] = field(default_factory=dict)  # category → scored items
    objective: float | None = None  # macro mean over objective categories
    subjective: float | None = None  # macro mean grade over subjective categories
    cost_usd: float = 0.0
    judge_cost_usd: float = 0.0
    judge_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_mean_s: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    pairs: int = 0
    win_rate: float | None = None
    lc_win_rate: float | None = None
    agreement: float | None = None  # the judge's agreement with itself under swapped positions

    @property
    def cost_per_item(self) -> float:
        return self.cost_usd / self.items if self.items else 0.0


@dataclass
class Report:
    run: dict[str, Any]
    systems: list[SystemStats]
    objective_categories: list[str]
    subjective_categories: list[str]
    judge: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run, "objective_categories": self.objective_categories,
                "subjective_categories": self.subjective_categories, "judge": self.judge,
                "systems": [{**asdict(s), "cost_per_item_usd": s.cost_per_item} for s in self.systems]}


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def build(run: RunInfo, rows: list[ResultRow]) -> Report:
    by_system: dict[str, list[ResultRow]] = defaultdict(list)
    for r in rows:
        by_system[r.system].append(r)
    obj_cats = sorted({r.category for r in rows if r.suite != SUBJECTIVE})
    subj_cats = sorted({r.category for r in rows if r.suite == SUBJECTIVE})
    baseline = run.params.get("baseline") or (run.systems[0] if run.systems else "")
    stats = []
    for name in [*run.systems, *sorted(set(by_system) - set(run.systems))]:
        rs = by_system.get(name, [])
        st = SystemStats(name, items=len(rs), errors=sum(r.status == "error" for r in rs))
        scores: dict[str, list[float]] = defaultdict(list)
        grades: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            st.cost_usd += r.cost_usd
            st.judge_cost_usd += r.judge_cost_usd
            st.judge_calls += r.judge_calls
            st.input_tokens += r.input_tokens
            st.output_tokens += r.output_tokens
            if r.suite == SUBJECTIVE:
                if r.status == "done" and r.detail.get("rating") is not None:
                    grades[r.category].append(float(r.detail["rating"]))
            elif r.status in ("done", "error"):  # an error is a wrong answer
                scores[r.category].append(r.score or 0.0)
        st.accuracy = {c: statistics.fmean(v) for c, v in scores.items()}
        st.rating = {c: statistics.fmean(v) for c, v in grades.items()}
        st.counts = {c: len(v) for c, v in {**scores, **grades}.items()}
        st.scored = sum(st.counts.values())
        st.objective = statistics.fmean(st.accuracy.values()) if st.accuracy else None
        st.subjective = statistics.fmean(st.rating.values()) if st.rating else None
        lat = [r.latency_ms / 1000 for r in rs if r.latency_ms > 0 and r.status != "error"]
        if lat:
            st.latency_mean_s, st.latency_p50_s, st.latency_p95_s = statistics.fmean(lat), _pct(lat, 0.5), \
                _pct(lat, 0.95)
        pw = [r.detail["pairwise"] for r in rs if r.status == "done" and r.detail.get("pairwise")]
        if pw:
            outs = [p["outcome"] for p in pw]
            st.pairs, st.win_rate = len(pw), win_rate(outs)
            st.lc_win_rate = lc_win_rate(outs, [float(p.get("len_diff", 0)) for p in pw])
            st.agreement = sum(bool(p.get("agreed")) for p in pw) / len(pw)
        stats.append(st)
    pairs = [r.detail["pairwise"] for r in rows if r.detail.get("pairwise")]
    judge = {"model": run.params.get("judge"), "baseline": baseline if subj_cats else None,
             "calls": sum(r.judge_calls for r in rows), "cost_usd": sum(r.judge_cost_usd for r in rows),
             "pairs": len(pairs),
             "swap_agreement": sum(bool(p.get("agreed")) for p in pairs) / len(pairs) if pairs else None}
    info = {"id": run.id, "suite": run.suite, "systems": run.systems, "params": run.params, "status": run.status,
            "items": run.n_items, "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None, "results": len(rows)}
    return Report(info, stats, obj_cats, subj_cats, judge)


# ---- text ---------------------------------------------------------------------------------------------------

def _f(v: float | None, fmt: str, none: str = "–") -> str:
    return none if v is None else format(v, fmt)


def _cost(v: float) -> str:
    return f"{v:.4f}" if v >= 0.01 or v == 0 else f"{v:.6f}"


def table_rows(rep: Report) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    """(objective header, rows, subjective header, rows) — shared by Markdown and HTML."""
    oh = ["system", *rep.objective_categories, "overall", "cost $", "$ / item", "latency mean s", "p50 s",
          "p95 s", "tokens in→out", "errors"]
    orows = []
    for s in rep.systems:
        if not s.accuracy:
            continue
        cats = [f"{s.accuracy[c]:.1%} ({s.counts[c]})" if c in s.accuracy else "–" for c in rep.objective_categories]
        orows.append([s.system, *cats, _f(s.objective, ".1%"), _cost(s.cost_usd), _cost(s.cost_per_item),
                      _f(s.latency_mean_s, ".1f"), _f(s.latency_p50_s, ".1f"), _f(s.latency_p95_s, ".1f"),
                      f"{s.input_tokens:,}→{s.output_tokens:,}", str(s.errors)])
    sh = ["system", *rep.subjective_categories, "overall (1-10)", "win rate", "LC win rate", "swap agreement",
          "cost $", "judge $", "latency mean s"]
    srows = []
    for s in rep.systems:
        if not s.rating:
            continue
        cats = [f"{s.rating[c]:.1f}" if c in s.rating else "–" for c in rep.subjective_categories]
        srows.append([s.system, *cats, _f(s.subjective, ".2f"),
                      "baseline" if s.system == rep.judge.get("baseline") else _f(s.win_rate, ".1%"),
                      _f(s.lc_win_rate, ".1%"), _f(s.agreement, ".0%"), _cost(s.cost_usd), _cost(s.judge_cost_usd),
                      _f(s.latency_mean_s, ".1f")])
    return oh, orows, sh, srows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(rep: Report) -> str:
    r = rep.run
    p = r["params"]
    out = [f"## Benchmark {r['id'][:12]} — suite `{r['suite']}`, {r['items']} items × {len(r['systems'])} systems",
           "", f"status {r['status']} · limit {p.get('limit')} · seed {p.get('seed')} · temperature "
           f"{p.get('temperature')} · max tokens {p.get('max_tokens') or 'per item'} · started {r['created_at'][:19]}"]
    oh, orows, sh, srows = table_rows(rep)
    if orows:
        out += ["", "### Objective: accuracy by category (exact scoring; items in brackets)", "",
                _md_table(oh, orows), "",
                "overall = mean of the category accuracies; latency = wall time of one answer (the whole workflow); "
                "an answer that failed counts as wrong."]
    if srows:
        j = rep.judge
        out += ["", f"### Subjective: judge `{j['model']}`, mean grade 1-10 by category, pairwise vs "
                    f"`{j['baseline']}`", "", _md_table(sh, srows), "",
                f"judge: {j['calls']} calls, ${_cost(j['cost_usd'])}; agreement with itself under swapped positions: "
                f"{_f(j['swap_agreement'], '.0%')} of {j['pairs']} pairs (disagreements count as ties)."]
    if not orows and not srows:
        out += ["", "no results yet"]
    return "\n".join(out) + "\n"
