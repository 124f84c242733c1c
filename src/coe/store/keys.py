"""API keys for the server: created once (printed once), stored as sha256 hashes, with rate and budget."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from coe.errors import InputError
from coe.store.repo import Store
from coe.store.tables import ApiKey

KEY_PREFIX = "coe-"


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    prefix: str
    rate_per_min: int | None
    budget_usd: float | None
    spent_usd: float
    created_at: datetime
    revoked: bool

    def __repr__(self) -> str:
        return f"KeyInfo({self.name}, {self.prefix}…)"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(k: ApiKey) -> KeyInfo:
    return KeyInfo(k.id, k.name, k.prefix, k.rate_per_min, k.budget_usd, k.spent_usd, k.created_at, k.revoked)


class KeyRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str, rate_per_min: int | None = None,
               budget_usd: float | None = None) -> tuple[str, KeyInfo]:
        """Returns the key (show it once; only its hash is kept) and its record."""
        if not name.strip() or len(name) > 128:
            raise InputError("a key needs a name of 1–128 characters", hint="coe keys create --name NAME")
        if rate_per_min is not None and rate_per_min <= 0:
            raise InputError("--rate must be a positive number of requests per minute")
        if budget_usd is not None and budget_usd <= 0:
            raise InputError("--budget must be a positive amount in USD")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(id=uuid.uuid4().hex, name=name.strip(), prefix=key[:10], key_hash=hash_key(key),
                     rate_per_min=rate_per_min, budget_usd=budget_usd, spent_usd=0.0,
                     created_at=datetime.now(UTC), revoked=False)
        with self.store.session() as s, s.begin():
            s.add(row)
        return key, _info(row)

    def verify(self, key: str) -> KeyInfo | None:
        with self.store.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
            return None if row is None or row.revoked else _info(row)

    def list(self) -> list[KeyInfo]:
        with self.store.session() as s:
            return [_info(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.created_at))]

    def revoke(self, key_id_or_name: str) -> int:
        with self.store.session() as s, s.begin():
            res = s.execute(update(ApiKey).where(
                (ApiKey.id.startswith(key_id_or_name, autoescape=True)) | (ApiKey.name == key_id_or_name)
            ).values(revoked=True))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def add_spend(self, key_id: str, usd: float) -> None:
        if usd <= 0:
            return
        with self.store.session() as s, s.begin():
            s.execute(update(ApiKey).where(ApiKey.id == key_id).values(spent_usd=ApiKey.spent_usd + usd))
