"""The store: runs and stages (traces) through SQLAlchemy 2; SQLite by default, PostgreSQL by URL."""

from coe.store.repo import RunRecord, StageRecord, Store, open_store

__all__ = ["RunRecord", "StageRecord", "Store", "open_store"]
