"""Who plays which role: a user's team (in order) or an automatic one from the available models."""

from __future__ import annotations

from collections.abc import Sequence

from coe.errors import InputError
from coe.providers.pool import EMBEDDED_PREFERENCE, ModelPool
from coe.workflows.base import StageSpec, Workflow

TIER_ORDER = {"strong": 0, "balanced": 1, "cheap": 2}


def rank_models(pool: ModelPool, lang: str) -> list[str]:
    """Available models, best first, spread across vendors; models that don't speak ``lang`` go last."""
    avail = pool.available()
    if not avail:
        pool.default_model()  # raises the clear "nothing available" error

    def key(m_id: str) -> tuple[int, int, int]:
        m = pool.catalog.model(m_id)
        emb = EMBEDDED_PREFERENCE.index(m_id) if m_id in EMBEDDED_PREFERENCE else len(EMBEDDED_PREFERENCE)
        local = 1 if pool.catalog.vendor_of(m).local else 0
        return (local, TIER_ORDER.get(m.tier, 1), emb)

    speaks = [m.id for m in avail if lang in m.languages]
    others = [m.id for m in avail if lang not in m.languages]
    ranked = sorted(speaks, key=key)
    if pool.settings.file.default_model in ranked:
        ranked.remove(pool.settings.file.default_model)
        ranked.insert(0, pool.settings.file.default_model)
    # one model per vendor first, then the rest
    by_vendor: list[str] = []
    rest: list[str] = []
    vendors: set[str] = set()
    for mid in ranked:
        v = mid.split("/", 1)[0]
        (rest if v in vendors and v != "embedded" else by_vendor).append(mid)
        vendors.add(v)
    ordered = by_vendor + rest
    if len(ordered) < 2:  # at least two distinct models take part when there are two
        ordered += sorted(others, key=key)
    return ordered


def slot_plan(workflow: Workflow) -> dict[str, int]:
    """Stage id → first team slot, in order of appearance (a ``count`` stage takes consecutive slots)."""
    plan: dict[str, int] = {}
    nxt = 0
    for st in workflow.stages:
        if st.slot is not None:
            plan[st.id] = st.slot
            nxt = max(nxt, st.slot + st.count)
        else:
            plan[st.id] = nxt
            nxt += st.count
    return plan


def assign_team(workflow: Workflow, ranked: Sequence[str], user_team: Sequence[str] | None) -> dict[int, str]:
    """Team slot → model. A user team fills slots in order (cycling if short). The automatic team gives
    ``prefer: strong`` stages the best model and spreads the others over distinct models where it can."""
    plan = slot_plan(workflow)
    specs: dict[int, StageSpec] = {}
    for st in workflow.stages:
        for k in range(st.count):
            specs.setdefault(plan[st.id] + k, st)
    slots = sorted(specs)
    if user_team:
        return {s: user_team[i % len(user_team)] for i, s in enumerate(slots)}
    if not ranked:
        raise InputError("no model is available for the team", hint="set a vendor key or run `coe models pull`")
    strong = [s for s in slots if specs[s].prefer == "strong"]
    others = [s for s in slots if s not in strong]
    out = dict.fromkeys(strong, ranked[0])
    pool = list(ranked[1:]) if strong and len(ranked) > len(others) else list(ranked)
    for i, s in enumerate(others):
        out[s] = pool[i % len(pool)] if pool else ranked[0]
    return out


def parse_team(text: str | None) -> list[str] | None:
    if text is None:
        return None
    team = [t.strip() for t in text.split(",") if t.strip()]
    if not team:
        raise InputError("--team is empty", hint="give model ids separated by commas, e.g. a/x,b/y,c/z")
    return team
