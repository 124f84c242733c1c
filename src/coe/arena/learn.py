"""Votes → router: per category, the model people rated best (with enough votes and an interval clear of
the runner-up) goes first in the dispatch table."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from coe.arena.ratings import Vote, leaderboard


def learn_dispatch(votes: list[Vote], *, min_battles: int = 20, bootstrap: int = 200
                   ) -> tuple[dict[str, list[str]], dict[str, Any]]:
    by_cat: dict[str, list[Vote]] = defaultdict(list)
    for v in votes:
        if v.category:
            by_cat[v.category].append(v)
    table: dict[str, list[str]] = {}
    details: dict[str, Any] = {}
    for cat, vs in sorted(by_cat.items()):
        try:
            lb = leaderboard(vs, bootstrap=bootstrap)
        except ValueError:
            details[cat] = {"learned": False, "reason": "fewer than two models"}
            continue
        rows = lb.rows()
        top, second = rows[0], rows[1]
        enough = int(top["battles"]) >= min_battles  # type: ignore[call-overload]
        separated = float(top["lower"]) > float(second["upper"])  # type: ignore[arg-type]
        details[cat] = {"learned": enough and separated, "votes": len(vs), "top": top, "runner_up": second}
        if not enough:
            details[cat]["reason"] = f"{top['model']} has {top['battles']} battles; {min_battles} needed"
        elif not separated:
            details[cat]["reason"] = f"{top['model']}'s interval overlaps {second['model']}'s"
        else:
            table[cat] = [str(r["model"]) for r in rows]
    return table, details
