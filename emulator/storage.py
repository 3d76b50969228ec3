"""Engine and sessions from ``DATABASE_URL``: SQLite (WAL) by default, PostgreSQL supported.

Writes go through ``Database.write()``. On SQLite that transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing
halfway with "database is locked", and writers of this process first queue on a lock of their
own (SQLite's busy handler would make them sleep and retry, which shows as second-long tails).
Readers use a separate autocommit engine and never block (WAL).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Field, Session, SQLModel, create_engine


class Counter(SQLModel, table=True):
    """Persistent sequences for ids and payment codes (unique across restarts)."""

    name: str = Field(primary_key=True, max_length=32)
    value: int = 0


_COUNTERS = Counter.__table__  # type: ignore[attr-defined]
_NEXT = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == bindparam("n"))
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)


# A unit of work is an ORM session or, on the hot paths, a plain connection in a transaction.
Tx = Session | Connection


def connection_of(tx: Tx) -> Connection:
    return tx.connection() if isinstance(tx, Session) else tx


def next_sequence(tx: Tx, name: str) -> int:
    """Increment and return a named sequence inside the caller's transaction."""
    conn = connection_of(tx)
    row = conn.execute(_NEXT, {"n": name}).first()
    if row is not None:
        return int(row[0])
    conn.execute(insert(_COUNTERS), {"name": name, "value": 1})
    return 1


_RESERVE = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == bindparam("n"))
    .values(value=_COUNTERS.c.value + bindparam("k"))
    .returning(_COUNTERS.c.value)
)


class SequenceBlocks:
    """Sequence numbers handed out from blocks reserved in the database (hi/lo).

    One committed UPDATE reserves ``block`` numbers, so they stay unique across restarts and
    across processes sharing a database, while most callers touch no row at all. Call ``next``
    outside any write transaction (the reservation is a transaction of its own). Numbers of a
    block not used before a restart are skipped, never reused.
    """

    def __init__(self, db: Database, *, block: int = 64) -> None:
        self._db = db
        self._block = block
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}
        self._end: dict[str, int] = {}

    def next(self, name: str) -> int:
        with self._lock:
            n = self._next.get(name, 0)
            if n == 0 or n > self._end[name]:
                with self._db.write_connection() as conn:
                    row = conn.execute(_RESERVE, {"n": name, "k": self._block}).first()
                    if row is None:
                        conn.execute(insert(_COUNTERS), {"name": name, "value": self._block})
                        high = self._block
                    else:
                        high = int(row[0])
                n, self._end[name] = high - self._block + 1, high
            self._next[name] = n + 1
            return n

    @contextmanager
    def resetting(self) -> Iterator[None]:
        """Hold every caller while the counters are reset, then reserve afresh."""
        with self._lock:
            yield
            self._next.clear()
            self._end.clear()


def _sqlite_engine(url: str, *, writer: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if writer:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """One database: a write engine, a read engine (the same one except on SQLite)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _sqlite_engine(url, writer=True)
            self._reader = _sqlite_engine(url, writer=False)
            self._write_lock: contextlib.AbstractContextManager[Any] = threading.Lock()
        else:
            self._writer = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)
            self._reader = self._writer
            self._write_lock = contextlib.nullcontext()

    @property
    def engine(self) -> Engine:
        return self._writer

    def create_schema(self) -> None:
        SQLModel.metadata.create_all(self._writer)

    def drop_schema(self) -> None:
        SQLModel.metadata.drop_all(self._writer)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self._reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed on success and rolled back on any exception."""
        with self._write_lock, Session(self._writer, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        with self._reader.connect() as conn:
            yield conn

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """Like ``write()`` without the ORM: a Core connection in a transaction (hot paths)."""
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    def ping(self) -> None:
        with self._reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def disposable_engine(url: str) -> Engine:
    """An engine without a pool, for one-off administration (creating test databases)."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
