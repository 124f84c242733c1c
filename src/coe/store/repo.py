"""Read and write traces. Sync SQLAlchemy underneath, awaited through a worker thread; finished runs in a SQLite
file are committed on the loop thread (coe.store.writes)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from coe import jsonfast
from coe.errors import InputError, StoreError
from coe.store.tables import Run, Stage
from coe.store.writes import RUNS, STAGES, UPDATE_RUN, InlineSqliteWriter, Op, plan_ops
from coe.types import Cost, Usage


@dataclass
class StageRecord:
    seq: int
    stage: str
    role: str
    model: str
    status: str  # ok | failed | skipped
    prompt: str
    output: str = ""
    round: int = 1
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: Cost = field(default_factory=Cost)
    latency_ms: float = 0.0


@dataclass
class RunRecord:
    id: str
    mode: str
    question: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "running"
    answer: str | None = None
    error: str | None = None
    finished_at: datetime | None = None
    route: dict[str, Any] | None = None
    team: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: Cost = field(default_factory=Cost)
    latency_ms: float = 0.0
    stages: list[StageRecord] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def normalize_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


_REVISION = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.M)
_DOWN_REVISION = re.compile(r'^down_revision\s*=\s*["\']([^"\']+)["\']', re.M)
START_DELAY_S = 0.5  # a run still going after this long is visible in the store as "running"


@dataclass
class PendingStart:
    """A run's first row, queued later (``timer``) or queued (``future``)."""

    timer: asyncio.TimerHandle | None = None
    future: asyncio.Future[None] | None = None


class Store:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        if self.url.startswith("sqlite:///"):
            folder = Path(self.url.removeprefix("sqlite:///").split("?", 1)[0]).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot use database {safe_url(url)}: cannot create {folder} "
                                 f"({e.strerror or e.__class__.__name__})",
                                 hint="check COE_DATABASE_URL or [store] url") from None
        try:
            self.engine: Engine = create_engine(self.url, pool_pre_ping=not self.url.startswith("sqlite"),
                                                json_serializer=_json_text)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StoreError(f"cannot use database {safe_url(url)} ({e.__class__.__name__})",
                             hint="check COE_DATABASE_URL or [store] url") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[str, RunRecord, asyncio.Future[None]]]] = {}
        self._drainers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._inline = InlineSqliteWriter.for_engine(self.engine)  # SQLite file: commit on the loop thread
        self._checkpoints: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)})"

    # ---- schema ------------------------------------------------------------------------------------

    def _at_head(self) -> bool:
        """Whether the database already has the newest revision, read without Alembic."""
        folder = resources.files("coe.store") / "migrations" / "versions"
        revs, downs = set(), set()
        for f in folder.iterdir():
            if f.name.endswith(".py"):
                source = f.read_text(encoding="utf-8")
                revs.update(_REVISION.findall(source))
                downs.update(_DOWN_REVISION.findall(source))
        heads = revs - downs
        if len(heads) != 1:
            return False
        try:
            with self.engine.connect() as conn:
                current = conn.execute(sql_text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return False  # a new database (no table yet), or one that is unreachable: migrate() says which
        return bool(current == heads.pop())

    def migrate(self) -> None:
        """Bring the schema to the newest revision (no-op when current)."""
        if self._at_head():  # the usual case: no need to load Alembic (≈ 15 MB in every server process)
            return
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("coe.store") / "migrations"))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        try:
            with self.engine.begin() as conn:
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as e:
            raise StoreError(f"database {safe_url(self.url)} is unavailable ({_reason(e)})",
                             hint="start the database or fix COE_DATABASE_URL") from None

    # ---- writes ------------------------------------------------------------------------------------
    # Trace writes use SQLAlchemy Core with executemany: one INSERT for the runs of a batch, one for all their
    # stages, one UPDATE for runs started earlier. The ORM's unit of work cost ~1.5 ms of CPU per run, which was
    # the largest single cost of a streamed request through `coe serve`.

    def start_run(self, run: RunRecord) -> None:
        self._write([("start", run)])

    def finish_run(self, run: RunRecord) -> None:
        """Run totals and all its stages, in one transaction."""
        self._write([("finish", run)])

    def _write(self, ops: list[Op]) -> None:
        try:
            with self.engine.begin() as conn:
                _write_ops(conn, ops)
        except SQLAlchemyError as e:
            raise StoreError(f"database error ({_reason(e)})",
                             hint="check that the database is running and migrated") from None

    # ---- reads -------------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        """A run with its stages; a unique prefix of the id is enough."""
        with self.session() as s:
            rows = s.scalars(select(Run).where(Run.id.startswith(run_id, autoescape=True)).limit(2)).all()
            if not rows:
                raise InputError(f"no run '{run_id}'", hint="see `coe runs list`")
            if len(rows) > 1:
                raise InputError(f"run id '{run_id}' is ambiguous", hint="give more characters")
            run = _run_record(rows[0])
            stages = s.scalars(select(Stage).where(Stage.run_id == run.id).order_by(Stage.seq)).all()
            run.stages = [_stage_record(st) for st in stages]
            return run

    def list_runs(self, limit: int = 20, offset: int = 0, exclude_modes: tuple[str, ...] = ()) -> list[RunRecord]:
        with self.session() as s:
            q = select(Run).where(Run.mode.not_in(exclude_modes)) if exclude_modes else select(Run)
            rows = s.scalars(q.order_by(Run.created_at.desc()).limit(limit).offset(offset)).all()
            return [_run_record(r) for r in rows]

    # ---- async wrappers ------------------------------------------------------------------------------

    async def astart_run(self, run: RunRecord) -> None:
        await self._enqueue("start", run)

    def start_run_soon(self, run: RunRecord, delay_s: float = START_DELAY_S) -> PendingStart:
        """Write the run's first row ``delay_s`` from now, without waiting (the first token never waits for a
        commit). A run that finishes sooner is written once, whole, by :meth:`afinish_run` — most runs through
        the gateway. Pass the returned handle to :meth:`afinish_run`."""
        pending = PendingStart()
        if delay_s <= 0:
            pending.future = self._enqueue("start", run)
        else:
            def fire() -> None:
                pending.future = self._enqueue("start", run)

            pending.timer = asyncio.get_running_loop().call_later(delay_s, fire)
        return pending

    async def afinish_run(self, run: RunRecord, started: PendingStart | None = None) -> None:
        """Commit the finished run (totals and stages in one transaction); returns once it is committed."""
        op = "finish"
        if started is not None:
            if started.future is None:  # the first row was never queued: write the whole run now
                if started.timer is not None:
                    started.timer.cancel()
                op = "insert"
            else:
                try:
                    await started.future
                except Exception:  # the first row never made it: write the whole run now
                    op = "insert"
        await self._enqueue(op, run)

    def _enqueue(self, op: str, run: RunRecord) -> asyncio.Future[None]:
        """Writes from concurrent runs share one transaction (one commit instead of hundreds); each caller's
        future resolves only after its own write is committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if loop not in self._drainers and self._inline is not None and self._inline.write([(op, run)]):
            fut.set_result(None)  # committed already (nothing queued ahead of it)
            self._after_inline(loop)
            return fut
        pending = self._pending.setdefault(loop, [])
        pending.append((op, run, fut))
        if loop not in self._drainers:
            self._drainers[loop] = loop.create_task(self._drain(loop))
        return fut

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending[loop]
        try:
            while pending:
                batch = pending[:]
                del pending[:]
                ops = [(op, run) for op, run, _ in batch]
                if self._inline is not None and self._inline.write(ops):
                    results: list[Exception | None] = [None] * len(ops)
                    self._after_inline(loop)
                else:  # not SQLite, or the database is busy: the worker thread waits for it
                    results = await asyncio.to_thread(self._write_batch, ops)
                for (_, _, fut), err in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(None) if err is None else fut.set_exception(err)
        finally:  # no await between the emptiness check and here: nothing can slip in unseen
            self._drainers.pop(loop, None)

    def _write_batch(self, ops: list[Op]) -> list[Exception | None]:
        try:
            self._write(ops)
            return [None] * len(ops)
        except Exception:  # isolate the bad write: retry one by one
            out: list[Exception | None] = []
            for op in ops:
                try:
                    self._write([op])
                    out.append(None)
                except Exception as e:  # handed to that caller
                    out.append(e)
            return out

    def _after_inline(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._inline is not None and self._inline.checkpoint_due():
            task = loop.create_task(asyncio.to_thread(self._checkpoint))
            self._checkpoints.add(task)
            task.add_done_callback(self._checkpoints.discard)

    def _checkpoint(self) -> None:
        """Move the WAL into the database file (the inline writer never does: it would fsync on the loop)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except SQLAlchemyError:  # the next one will do; SQLite also checkpoints from the other connections
            pass

    def session(self) -> Session:
        return _GuardedSession(self.engine, expire_on_commit=False)

    def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
        self.engine.dispose()


class _GuardedSession(Session):
    """Turns driver errors into one StoreError line."""

    def __exit__(self, type_: Any, value: Any, traceback: Any) -> None:
        super().__exit__(type_, value, traceback)
        if isinstance(value, SQLAlchemyError):
            raise StoreError(f"database error ({_reason(value)})",
                             hint="check that the database is running and migrated") from None


def _write_ops(conn: Connection, ops: list[Op]) -> None:
    inserts, updates, stages = plan_ops(ops)
    if inserts:
        conn.execute(insert(RUNS), inserts)
    if updates:
        conn.execute(UPDATE_RUN, updates)
    if stages:
        conn.execute(insert(STAGES), stages)


def _json_text(obj: Any) -> str:
    """JSON columns (route, team, extras, attempts) through orjson: compact, read back by any JSON parser."""
    return jsonfast.dumps(obj).decode()


def _reason(e: SQLAlchemyError) -> str:
    orig = getattr(e, "orig", None)
    text = str(orig or e).strip().splitlines()[0] if str(orig or e).strip() else e.__class__.__name__
    return text[:200]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # with WAL: no fsync per commit, still crash-safe
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _run_record(r: Run) -> RunRecord:
    return RunRecord(id=r.id, mode=r.mode, question=r.question, created_at=r.created_at, status=r.status,
                     answer=r.answer, error=r.error, finished_at=r.finished_at, route=r.route,
                     team=list(r.team or []), usage=Usage(r.input_tokens, r.output_tokens),
                     cost=Cost(0.0, r.cost_usd), latency_ms=r.latency_ms, extras=dict(r.extras or {}))


def _stage_record(s: Stage) -> StageRecord:
    return StageRecord(seq=s.seq, stage=s.stage, role=s.role, model=s.model, status=s.status, prompt=s.prompt,
                       output=s.output, round=s.round, error=s.error, attempts=list(s.attempts or []),
                       usage=Usage(s.input_tokens, s.output_tokens), cost=Cost(0.0, s.cost_usd),
                       latency_ms=s.latency_ms)


def open_store(url: str) -> Store:
    """Open and migrate."""
    store = Store(url)
    store.migrate()
    return store
