"""Battles, answers and votes in the store. A vote and its checks happen in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from coe.arena.ratings import BOTH_BAD, TIE, Vote
from coe.errors import InputError
from coe.store.repo import Store
from coe.store.tables import Battle, BattleAnswer, VoteRow

LABELS = "ABCDEF"
DEFAULT_VOTES_PER_MIN = 20


@dataclass
class AnswerRecord:
    position: int
    model: str
    answer: str = ""
    error: str | None = None
    output_tokens: int = 0
    latency_ms: float = 0.0

    @property
    def label(self) -> str:
        return f"Model {LABELS[self.position]}"


@dataclass
class BattleRecord:
    id: str
    prompt: str
    models: list[str]
    anonymous: bool = False
    category: str | None = None
    answers: list[AnswerRecord] = field(default_factory=list)
    winner: str | None = None  # "0".."5" | "tie" | "tie (bothbad)"; None before the vote
    comment: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str | None = None
    source: str = "arena"

    def public(self) -> dict[str, object]:
        """What a voter may see: anonymous battles hide the models until the vote."""
        hidden = self.anonymous and self.winner is None
        return {"battle_id": self.id, "prompt": self.prompt, "category": self.category,
                "anonymous": self.anonymous, "voted": self.winner is not None, "winner": self.winner,
                "models": None if hidden else self.models,
                "answers": [{"label": a.label, "position": a.position, "model": None if hidden else a.model,
                             "answer": a.answer, "error": a.error, "latency_ms": round(a.latency_ms, 1)}
                            for a in sorted(self.answers, key=lambda a: a.position)]}


def parse_winner(choice: str | int, models: list[str]) -> str:
    """A voter's choice → stored winner. Accepts a position (0-based int), "1".."N", a label "A".."F",
    a model id from the battle, "tie", or "bad"/"bothbad"/"tie (bothbad)"."""
    if isinstance(choice, int) and not isinstance(choice, bool):
        if 0 <= choice < len(models):
            return str(choice)
        raise InputError(f"winner position {choice} is not in this battle (0–{len(models) - 1})")
    c = str(choice).strip()
    low = c.lower()
    if low == TIE:
        return TIE
    if low in ("bad", "bothbad", "all bad", BOTH_BAD):
        return BOTH_BAD
    if c.isdigit() and 1 <= int(c) <= len(models):
        return str(int(c) - 1)
    if len(c) == 1 and c.upper() in LABELS[: len(models)]:
        return str(LABELS.index(c.upper()))
    if low.startswith("model ") and len(c) == 7 and c[-1].upper() in LABELS[: len(models)]:
        return str(LABELS.index(c[-1].upper()))
    if c in models:
        return str(models.index(c))
    raise InputError(f"'{c}' is not a model in this battle",
                     hint=f"vote 1–{len(models)}, A–{LABELS[len(models) - 1]}, a model of the battle, tie or bad")


class ArenaRepo:
    def __init__(self, store: Store, votes_per_min: int = DEFAULT_VOTES_PER_MIN) -> None:
        self.store = store
        self.votes_per_min = votes_per_min

    def save_battle(self, b: BattleRecord) -> None:
        with self.store.session() as s, s.begin():
            s.add(Battle(id=b.id, created_at=b.created_at, prompt=b.prompt, category=b.category,
                         anonymous=b.anonymous, models=list(b.models), run_id=b.run_id, source=b.source))
            s.flush()
            for a in b.answers:
                s.add(BattleAnswer(battle_id=b.id, position=a.position, model=a.model, answer=a.answer,
                                   error=a.error, output_tokens=a.output_tokens, latency_ms=a.latency_ms))

    def get(self, battle_id: str) -> BattleRecord:
        with self.store.session() as s:
            row = s.get(Battle, battle_id)
            if row is None:
                raise InputError(f"no battle '{battle_id}'", hint="start one with `coe arena battle`")
            answers = s.scalars(select(BattleAnswer).where(BattleAnswer.battle_id == battle_id)).all()
            vote = s.scalars(select(VoteRow).where(VoteRow.battle_id == battle_id)).first()
            return BattleRecord(
                id=row.id, prompt=row.prompt, models=list(row.models), anonymous=row.anonymous,
                category=row.category, created_at=row.created_at, run_id=row.run_id, source=row.source,
                answers=[AnswerRecord(a.position, a.model, a.answer, a.error, a.output_tokens, a.latency_ms)
                         for a in answers],
                winner=vote.winner if vote else None, comment=vote.comment if vote else None)

    def vote(self, battle_id: str, choice: str | int, *, comment: str | None = None,
             voter: str | None = None) -> BattleRecord:
        """Record the one vote of a battle. Unknown battle, a second vote, a model not in the battle or too
        many votes from one voter → InputError, and nothing is written."""
        if comment is not None and len(comment) > 4000:
            raise InputError("the comment is longer than 4,000 characters")
        with self.store.session() as s, s.begin():
            row = s.get(Battle, battle_id, with_for_update=True)
            if row is None:
                raise InputError(f"no battle '{battle_id}'")
            if s.scalars(select(VoteRow.id).where(VoteRow.battle_id == battle_id)).first() is not None:
                raise InputError(f"battle {battle_id} already has a vote", hint="one vote per battle")
            winner = parse_winner(choice, list(row.models))
            if voter:
                since = datetime.now(UTC) - timedelta(minutes=1)
                recent = s.scalar(select(func.count(VoteRow.id)).where(VoteRow.voter == voter,
                                                                       VoteRow.created_at >= since)) or 0
                if recent >= self.votes_per_min:
                    raise InputError(f"too many votes from '{voter}' ({recent} in the last minute)",
                                     hint="wait a minute")
            s.add(VoteRow(battle_id=battle_id, winner=winner, comment=comment, voter=voter,
                          created_at=datetime.now(UTC)))
            row.voter = voter
        return self.get(battle_id)

    def votes(self, category: str | None = None) -> list[Vote]:
        with self.store.session() as s:
            q = select(Battle.models, Battle.category, VoteRow.winner).join(VoteRow, VoteRow.battle_id == Battle.id)
            if category:
                q = q.where(Battle.category == category)
            return [Vote(tuple(m), int(w) if w.isdigit() else w, c) for m, c, w in s.execute(q).all()]

    def import_votes(self, votes: list[Vote]) -> int:
        """Imported battles (no answers) with their votes, all in one transaction."""
        now = datetime.now(UTC)
        with self.store.session() as s, s.begin():
            for v in votes:
                bid = uuid.uuid4().hex
                s.add(Battle(id=bid, created_at=now, prompt="", category=v.category, anonymous=False,
                             models=list(v.models), source="import"))
                s.flush()
                s.add(VoteRow(battle_id=bid, winner=str(v.winner), created_at=now))
        return len(votes)

    def bad_cases(self, vendor: str | None = None, category: str | None = None) -> list[dict[str, object]]:
        """Answers people judged bad: every answer of an "all bad" vote, and every answer that lost."""
        out: list[dict[str, object]] = []
        with self.store.session() as s:
            q = select(Battle, VoteRow).join(VoteRow, VoteRow.battle_id == Battle.id).where(Battle.source == "arena")
            if category:
                q = q.where(Battle.category == category)
            for battle, vote in s.execute(q).all():
                answers = s.scalars(select(BattleAnswer).where(BattleAnswer.battle_id == battle.id)).all()
                for a in answers:
                    lost = vote.winner.isdigit() and int(vote.winner) != a.position
                    if vote.winner != BOTH_BAD and not lost:
                        continue
                    if vendor and a.model.split("/", 1)[0] != vendor:
                        continue
                    winner = battle.models[int(vote.winner)] if vote.winner.isdigit() else vote.winner
                    out.append({"battle_id": battle.id, "prompt": battle.prompt, "category": battle.category,
                                "model": a.model, "answer": a.answer, "vote": "all bad" if vote.winner == BOTH_BAD
                                else f"lost to {winner}", "comment": vote.comment,
                                "created_at": vote.created_at.isoformat()})
        return out
