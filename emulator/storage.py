"""Engine and sessions from ``DATABASE_URL``: SQLite (WAL) by default, PostgreSQL supported.

Writes go through ``Database.write()``. On SQLite that transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing
halfway with "database is locked", and writers of this process first queue on a lock of their
own (SQLite's busy handler would make them sleep and retry, which shows as second-long tails).
Readers use a separate autocommit engine and never block (WAL).

``Database.transaction()`` / ``transaction_connection()`` run a unit of work and, on
PostgreSQL, run it again from the start when the database aborted it as a deadlock victim or a
serialization failure (SQLSTATE 40P01 / 40001): a bounded number of times, with a short growing
pause, so a conflict between concurrent money movements never reaches the caller as an error.
The work must therefore be a function of its transaction only (no side effects outside it).

``hot_transaction()`` and ``hot_read()`` are the same on the driver's own connection, for the
gateway's hot paths (``emulator.hotsql``): a few connections are kept checked out of the
engine's pool and reused, so a call costs no pool checkout (nor PostgreSQL's pre-ping).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_mock_engine,
    event,
    insert,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool, PoolProxiedConnection
from sqlmodel import Field, Session, SQLModel, create_engine

from .hotsql import AnyTx, Raw, Statement, raw_of

T = TypeVar("T")
log = logging.getLogger("emulator")

# How often one unit of work is tried when PostgreSQL aborts it as a deadlock victim or a
# serialization failure, and the pause before the n-th retry (n * RETRY_PAUSE_SECONDS).
RETRY_ATTEMPTS = 8
RETRY_PAUSE_SECONDS = 0.004
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# Driver connections kept for the hot paths, per engine (more are taken from the pool when
# many calls run at once, and given back to it afterwards).
HOT_CONNECTIONS = 8
# SQLite's own busy handler sleeps 1, 2, 5, 10 ... ms between tries for the write lock, and a
# pay waits on the event loop: a lock held 0.2 ms by the delivery worker cost a pay 1-8 ms. The
# hot writers take the lock themselves (``_begin_immediate``), trying again after these pauses
# (the last repeats) until ``SQLITE_BUSY_SECONDS`` have passed, as ``busy_timeout`` would.
SQLITE_BUSY_PAUSES = (0.00005, 0.0001, 0.0002, 0.0005, 0.001)
SQLITE_BUSY_SECONDS = 30.0
# A write-ahead log past this many frames (4 KiB pages: 64 MiB) is checkpointed and restarted.
WAL_RESTART_FRAMES = 16384
WAL_RESTART_WAIT_MS = 50
# The log file kept when the log restarts: writes then go into pages the file already has.
WAL_KEPT_BYTES = WAL_RESTART_FRAMES * (4096 + 24)
_BUSY_TIMEOUT = f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000:.0f}"  # every connection's
_SQLITE_BUSY = 5  # SQLITE_BUSY; the extended codes (BUSY_RECOVERY ...) share its low byte
# pg_advisory_lock keys for start-up (schema, seeding): "alip" and the database's oid, so
# emulators of different databases on one server never wait for each other.
STARTUP_LOCK_KEY = 0x616C6970
_DATABASE_OID = "(SELECT oid::int FROM pg_database WHERE datname = current_database())"


def is_retryable(exc: BaseException) -> bool:
    """A transaction the database aborted only because of a concurrent one: safe to run again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    return getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


class Counter(SQLModel, table=True):
    """Persistent sequences for ids and payment codes (unique across restarts)."""

    name: str = Field(primary_key=True, max_length=32)
    value: int = 0


_COUNTERS = Counter.__table__  # type: ignore[attr-defined]


# A unit of work is an ORM session or, on the hot paths, a plain connection in a transaction.
Tx = Session | Connection


def connection_of(tx: Tx) -> Connection:
    return tx.connection() if isinstance(tx, Session) else tx


_HOT_NEXT = Statement("UPDATE counter SET value = value + 1 WHERE name = :n RETURNING value")
_HOT_FIRST = Statement("INSERT INTO counter (name, value) VALUES (:n, 1)")


def next_sequence(tx: AnyTx, name: str) -> int:
    """Increment and return a named sequence inside the caller's transaction."""
    raw = raw_of(tx)
    row = raw.one(_HOT_NEXT, {"n": name})
    if row is not None:
        return int(row[0])
    raw.execute(_HOT_FIRST, {"n": name})
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
                high = self._db.transaction_connection(lambda conn: self._reserve(conn, name))
                n, self._end[name] = high - self._block + 1, high
            self._next[name] = n + 1
            return n

    def _reserve(self, conn: Connection, name: str) -> int:
        row = conn.execute(_RESERVE, {"n": name, "k": self._block}).first()
        if row is not None:
            return int(row[0])
        # First use of this sequence: another process may create the row at the same moment.
        try:
            with conn.begin_nested():
                conn.execute(insert(_COUNTERS), {"name": name, "value": self._block})
            return self._block
        except IntegrityError:
            pass
        row = conn.execute(_RESERVE, {"n": name, "k": self._block}).first()
        assert row is not None
        return int(row[0])

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
        cur.execute(_BUSY_TIMEOUT)
        cur.execute("PRAGMA foreign_keys=ON")
        # No checkpoint inline in a commit (a pay would wait for it on the event loop): the
        # serving process checkpoints from its ticker thread instead (Database.checkpoint).
        cur.execute("PRAGMA wal_autocheckpoint=0")
        # A restarted log is cut back to this size, not to nothing (Database.checkpoint).
        cur.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
        cur.close()

    if writer:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _add_column(conn: Connection, table: str, column: Any) -> str:
    kind = column.type.compile(dialect=conn.dialect)
    default = column.default.arg if column.default is not None and not callable(column.default.arg) else None
    if default is None and not column.nullable:
        raise RuntimeError(
            f"the database lacks the column {table}.{column.name}, which cannot be added to existing "
            "rows: reset the data directory (or drop the database) and start again"
        )
    quote = conn.dialect.identifier_preparer.quote
    clause = f" NOT NULL DEFAULT {_literal(default)}" if default is not None and not column.nullable else ""
    if default is not None and column.nullable:
        clause = f" DEFAULT {_literal(default)}"
    return f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {kind}{clause}"


def _create_tables(conn: Connection, tables: list[Table]) -> None:
    """``create_all`` of ``tables``; on PostgreSQL its statements go in one round trip.

    A fresh database gets some forty CREATE TABLE / CREATE INDEX statements: one at a time, each
    waits for the server (and, at start-up, for the thread importing the app to let go of the
    interpreter). The statements are the ones create_all emits, captured, then sent together.
    """
    if not tables:
        return
    if conn.dialect.name != "postgresql":  # sqlite3 runs one statement per call
        SQLModel.metadata.create_all(conn, tables=tables, checkfirst=False)
        return
    statements: list[str] = []

    def capture(ddl: Any, *_args: Any, **_kw: Any) -> None:
        statements.append(str(ddl.compile(dialect=conn.dialect)).strip())

    SQLModel.metadata.create_all(
        create_mock_engine(conn.engine.url, capture), tables=tables, checkfirst=False
    )
    conn.exec_driver_sql(";\n".join(statements))


def _shape(table: Table) -> frozenset[str]:
    """What ``create_schema`` makes sure of for a table: its columns and its indexes."""
    return frozenset([f"column {c.name}" for c in table.columns] + [f"index {i.name}" for i in table.indexes])


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Database:
    """One database: a write engine, a read engine (the same one except on SQLite)."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Per table, what create_schema found or made (columns, indexes): not looked at again.
        self._schema: dict[str, frozenset[str]] = {}
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
        self._postgresql = self.dialect == "postgresql"
        self._hot_writers: list[PoolProxiedConnection] = []
        self._hot_readers: list[PoolProxiedConnection] = []
        self._hot_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._writer

    @contextmanager
    def startup_lock(self) -> Iterator[None]:
        """Held while one process creates the schema and seeds: N processes may start at once.

        PostgreSQL: a session-level advisory lock; SQLite: an exclusive lock on a file beside
        the database (in-memory databases are private to the process and need none).
        """
        if self.dialect == "postgresql":
            with self._writer.connect() as conn:
                conn.execute(text(f"SELECT pg_advisory_lock(:k, {_DATABASE_OID})"), {"k": STARTUP_LOCK_KEY})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(
                        text(f"SELECT pg_advisory_unlock(:k, {_DATABASE_OID})"), {"k": STARTUP_LOCK_KEY}
                    )
                    conn.commit()
            return
        database = make_url(self.url).database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        with open(f"{database}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def create_schema(self) -> None:
        """Create what is missing: tables, columns added since the database was made, indexes.

        ``create_all`` never alters an existing table, so a data directory from an earlier
        version would fail on its first query of a new column; such columns are added here (the
        emulator only ever adds nullable columns or columns with a default, never renames), and
        so are indexes added since. One transaction, one look at the catalog for a fresh
        database; what this object already checked is not checked again (a second call, after
        more models were imported, looks only at what they added).
        """
        pending = [t for t in SQLModel.metadata.sorted_tables if not self._checked(t)]
        if not pending:
            return
        with self._writer.begin() as conn:
            found = inspect(conn)
            present = set(found.get_table_names())
            _create_tables(conn, [t for t in pending if t.name not in present])
            for table in pending:
                if table.name not in present:
                    continue
                columns = {c["name"] for c in found.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in columns:
                        conn.execute(text(_add_column(conn, table.name, column)))
                indexes = {i["name"] for i in found.get_indexes(table.name)}
                for index in table.indexes:
                    if index.name not in indexes:
                        index.create(conn)
        for table in pending:
            self._schema[table.name] = _shape(table)

    def _checked(self, table: Table) -> bool:
        done = self._schema.get(table.name)
        return done is not None and _shape(table) <= done

    def drop_schema(self) -> None:
        self._hot_close()
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

    def transaction(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in ``write()``, run again whole after a deadlock/serialization abort."""
        return self._retrying(self.write, work)

    def transaction_connection(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in ``write_connection()``, with the same retry as ``transaction()``."""
        return self._retrying(self.write_connection, work)

    @staticmethod
    def _retrying(begin: Callable[[], contextlib.AbstractContextManager[Any]], work: Callable[[Any], T]) -> T:
        attempt = 1
        while True:
            try:
                with begin() as tx:
                    return work(tx)
            except DBAPIError as exc:
                if attempt >= RETRY_ATTEMPTS or not is_retryable(exc):
                    raise
                log.debug("transaction aborted by a concurrent one (attempt %d), retrying", attempt)
            time.sleep(attempt * RETRY_PAUSE_SECONDS)
            attempt += 1

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        with self._reader.connect() as conn:
            yield conn

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """Like ``write()`` without the ORM: a Core connection in a transaction (hot paths)."""
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    def checkpoint(self) -> int:
        """SQLite: copy the write-ahead log into the database without blocking anyone (PASSIVE);
        answers the frames the log holds (0 after a restart). Other databases: nothing, 0.

        Called once a second off the event loop (the worker process's tick, or the serving
        process's without one); commits never checkpoint themselves (``wal_autocheckpoint=0``).
        Under sustained writes a passive checkpoint never catches up with the log, so SQLite
        never starts it afresh: it grew by about 40 MB a second of pays, without end, and every
        page lookup walks its index (measured with bench/gateway.py, #15). Past
        ``WAL_RESTART_FRAMES``, the log is checkpointed to its end and restarted (RESTART): that
        holds writers for the few frames the passive pass left, and gives up after
        ``WAL_RESTART_WAIT_MS`` if readers or a writer hold on (the next tick tries again).

        The file is not truncated (``journal_size_limit`` cuts it back to ``WAL_KEPT_BYTES``):
        the next writer starts again at its beginning, over pages the file already has. Growing a
        truncated file again cost every commit a block allocation and the zeroing of new pages
        in the kernel, about 13% of the serving process's CPU under pays; keeping it, the same
        machine answered 15-25% more pays a second (bench/gateway.py's servers, #15).
        """
        if self.dialect != "sqlite":
            return 0
        with self._reader.connect() as conn:
            _, frames, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if frames < WAL_RESTART_FRAMES:
                return int(frames)
            conn.exec_driver_sql(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
            try:
                busy, frames, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()
            finally:
                conn.exec_driver_sql(_BUSY_TIMEOUT)
            return 0 if busy == 0 else int(frames)  # restarted: the next write begins it afresh

    # -- the hot paths: the driver's connection (emulator.hotsql) ----------------------------

    def hot_transaction(self, work: Callable[[Raw], T]) -> T:
        """``work(raw)`` in one transaction on a driver connection, retried like ``transaction()``.

        SQLite: under the same process lock as ``write()``, begun with ``BEGIN IMMEDIATE``.
        """
        attempt = 1
        while True:
            try:
                with self._write_lock:
                    return self._hot_once(work)
            except DBAPIError as exc:
                # A kept connection the server has closed meanwhile (restart, idle timeout) is
                # dropped and the work runs again on a fresh one, as the pool's pre-ping would.
                again = is_retryable(exc) or exc.connection_invalidated
                if attempt >= RETRY_ATTEMPTS or not again:
                    raise
                log.debug("transaction aborted by a concurrent one (attempt %d), retrying", attempt)
            time.sleep(attempt * RETRY_PAUSE_SECONDS)
            attempt += 1

    def _hot_once(self, work: Callable[[Raw], T]) -> T:
        fairy = self._hot_checkout(self._hot_writers, self._writer)
        conn = _driver(fairy)
        raw = Raw(conn, postgresql=self._postgresql, error=self._writer.dialect.loaded_dbapi.Error)
        try:
            if not self._postgresql:
                _begin_immediate(conn, raw.error)
            result = work(raw)
            try:
                conn.commit()
            except raw.error as exc:
                raise DBAPIError.instance("COMMIT", (), exc, raw.error) from exc
        except BaseException as exc:
            self._hot_abandon(fairy, exc)
            raise
        self._hot_checkin(self._hot_writers, fairy)
        return result

    def hot_read(self, work: Callable[[Raw], T]) -> T:
        """``work(raw)`` on a reader's driver connection in autocommit (each statement its own)."""
        for attempt in (1, 2):
            fairy = self._hot_checkout(self._hot_readers, self._reader, autocommit=True)
            error = self._reader.dialect.loaded_dbapi.Error
            try:
                result = work(Raw(_driver(fairy), postgresql=self._postgresql, error=error))
            except BaseException as exc:
                self._hot_abandon(fairy, exc, autocommit=True)
                if attempt == 1 and isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    continue  # a kept connection the server closed: once more on a fresh one
                raise
            self._hot_checkin(self._hot_readers, fairy, autocommit=True)
            return result
        raise AssertionError("unreachable")

    def _hot_checkout(
        self, free: list[PoolProxiedConnection], engine: Engine, *, autocommit: bool = False
    ) -> PoolProxiedConnection:
        with self._hot_lock:
            if free:
                return free.pop()
        fairy = engine.raw_connection()
        if autocommit and self._postgresql:
            _driver(fairy).autocommit = True
        elif not autocommit and not self._postgresql:
            _driver(fairy).execute("PRAGMA busy_timeout=0")  # _begin_immediate waits instead
        return fairy

    def _hot_checkin(
        self, free: list[PoolProxiedConnection], fairy: PoolProxiedConnection, *, autocommit: bool = False
    ) -> None:
        with self._hot_lock:
            if len(free) < HOT_CONNECTIONS:
                free.append(fairy)
                return
        self._hot_release(fairy, autocommit=autocommit)

    def _hot_abandon(
        self, fairy: PoolProxiedConnection, exc: BaseException, *, autocommit: bool = False
    ) -> None:
        """After an error: roll back and give the connection back to the pool, or drop it if dead."""
        if isinstance(exc, DBAPIError) and self._writer.dialect.is_disconnect(
            exc.orig,  # type: ignore[arg-type]
            _driver(fairy),
            None,
        ):
            exc.connection_invalidated = True
            fairy.invalidate()
            return
        try:
            if not autocommit or not self._postgresql:
                _driver(fairy).rollback()
        except Exception:
            fairy.invalidate()
            return
        self._hot_release(fairy, autocommit=autocommit)

    def _hot_release(self, fairy: PoolProxiedConnection, *, autocommit: bool) -> None:
        try:
            if autocommit and self._postgresql:
                _driver(fairy).autocommit = False
            elif not autocommit and not self._postgresql:
                _driver(fairy).execute(_BUSY_TIMEOUT)
        except Exception:
            fairy.invalidate()
            return
        fairy.close()

    def _hot_close(self) -> None:
        with self._hot_lock:
            writers, readers = self._hot_writers[:], self._hot_readers[:]
            self._hot_writers.clear()
            self._hot_readers.clear()
        for fairy in writers:
            self._hot_release(fairy, autocommit=False)
        for fairy in readers:
            self._hot_release(fairy, autocommit=True)

    def ping(self) -> None:
        with self._reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self._hot_close()
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def _begin_immediate(conn: Any, error: type[Exception]) -> None:
    """``BEGIN IMMEDIATE`` on a sqlite3 connection without a busy timeout, waiting in short steps."""
    deadline = 0.0
    step = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != _SQLITE_BUSY:
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, error) from exc
            now = time.monotonic()
            deadline = deadline or now + SQLITE_BUSY_SECONDS
            if now >= deadline:
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, error) from exc
        time.sleep(SQLITE_BUSY_PAUSES[min(step, len(SQLITE_BUSY_PAUSES) - 1)])
        step += 1


def _driver(fairy: PoolProxiedConnection) -> Any:
    """The driver's connection (sqlite3 / psycopg) under a pool's proxy."""
    return fairy.dbapi_connection


def disposable_engine(url: str) -> Engine:
    """An engine without a pool, for one-off administration (creating test databases)."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
