"""Category → ranked candidate models, limited to what is available here, with a quality/cost knob.

Like RouteLLM's threshold: with ``quality`` low, the cheapest model that is good at the category comes
first; categories in ``strong_categories`` (code, math, reasoning by default) always lean to stronger tiers.
A ``[router.dispatch]`` table in coe.toml (or `coe route learn-from-arena`) pins the order per category.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from coe.catalog import ModelInfo
from coe.config import RouterSettings
from coe.providers.pool import EMBEDDED_PREFERENCE, ModelPool

TIER_VALUE = {"strong": 1.0, "balanced": 0.6, "cheap": 0.3}


def score(m: ModelInfo, category: str, lang: str, rs: RouterSettings) -> float:
    q = max(rs.quality, 0.8) if category in rs.strong_categories else rs.quality
    price = (m.price_in + 3 * m.price_out) / 4  # USD per 1M tokens, output-weighted
    s = (1.0 if category in m.strengths else 0.0) + q * TIER_VALUE.get(m.tier, 0.5)
    s -= (1 - q) * math.log1p(price) / math.log1p(100)
    if lang not in m.languages:
        s -= 1.0
    return s


LEARNED_FILE = "learned-dispatch.json"


def learned_path(home: Path) -> Path:
    return home / "router" / LEARNED_FILE


def load_learned(home: Path) -> dict[str, list[str]]:
    """The dispatch table `coe route learn-from-arena` wrote (category → models people preferred)."""
    try:
        data = json.loads(learned_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    table = data.get("dispatch") if isinstance(data, dict) else None
    return {k: [m for m in v if isinstance(m, str)] for k, v in (table or {}).items() if isinstance(v, list)}


def save_learned(home: Path, table: dict[str, list[str]], details: dict[str, object]) -> Path:
    path = learned_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"dispatch": table, "details": details}, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def candidates(pool: ModelPool, category: str, lang: str = "en", limit: int = 5) -> list[str]:
    """Config pins first, then what the arena taught (if any), then the scored rest."""
    rs = pool.settings.file.router
    avail = pool.available()
    ids = {m.id for m in avail}
    pins = rs.dispatch.get(category, []) + load_learned(pool.settings.home).get(category, [])
    pinned = list(dict.fromkeys(m for m in pins if m in ids))

    def key(m: ModelInfo) -> tuple[float, int]:
        emb = EMBEDDED_PREFERENCE.index(m.id) if m.id in EMBEDDED_PREFERENCE else 0
        return (-score(m, category, lang, rs), emb)

    ranked = [m.id for m in sorted(avail, key=key) if m.id not in pinned]
    return (pinned + ranked)[:limit]
