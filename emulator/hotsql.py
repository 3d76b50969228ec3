"""Prebuilt SQL for the gateway's hot paths, run on the driver's own connection (issue #15).

``pay``, ``inquiryPayment``, ``refund`` and ``cancel`` run a handful of fixed statements per
call; SQLAlchemy's execute machinery (compiled-cache lookup, execution context, bind and
result processors, result objects) costs more than SQLite takes to run them. Here each such
statement is written once, with ``:name`` (or ``?``) placeholders, and rendered at import for
both drivers: sqlite3 takes it as is, psycopg gets ``%(name)s`` / ``%s``. ``{lock}`` becomes
``FOR UPDATE`` on PostgreSQL and nothing on SQLite (a write transaction there already holds the
database lock, ``BEGIN IMMEDIATE``), ``{claim}`` likewise ``FOR UPDATE SKIP LOCKED`` (rows another
process is taking are passed over).

Values cross in the form SQLAlchemy's column types would give them, so rows written here read
back identically through the ORM elsewhere and the other way round: on SQLite a datetime is the
text ``YYYY-MM-DD HH:MM:SS.ffffff`` (``sqlalchemy.dialects.sqlite.DATETIME``: the wall time as
given, no offset) and reads back naive; on PostgreSQL it is a ``timestamptz`` either way.

Errors of the driver are raised as SQLAlchemy's (``IntegrityError``, ``OperationalError`` ...,
the driver's error in ``.orig``), so callers catch the same exceptions whatever path ran, and
``storage.is_retryable`` sees PostgreSQL's SQLSTATE.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

_NAMED = re.compile(r"(?<![:\w]):(\w+)")
R = TypeVar("R")


class Statement:
    """One SQL text, rendered for sqlite3 (``qmark``/``named``) and psycopg (``pyformat``)."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, sql: str) -> None:
        self.sqlite = sql.replace("{lock}", "").replace("{claim}", "")
        self.postgresql = (
            _NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))
            .replace("{lock}", " FOR UPDATE")
            .replace("{claim}", " FOR UPDATE SKIP LOCKED")
        )


class Raw:
    """A driver connection inside a transaction (or, for reads, autocommit) owned by the caller."""

    __slots__ = ("_conn", "error", "postgresql")

    def __init__(self, dbapi_connection: Any, *, postgresql: bool, error: type[Exception]) -> None:
        self._conn = dbapi_connection
        # The driver's base exception class (what ``execute`` translates).
        self.error = error
        self.postgresql = postgresql

    def execute(self, stmt: Statement, params: dict[str, Any] | tuple[Any, ...] = ()) -> Any:
        """Run ``stmt``; the driver's cursor (``fetchone``, ``rowcount``)."""
        sql = stmt.postgresql if self.postgresql else stmt.sqlite
        try:
            return self._conn.execute(sql, params)
        except self.error as exc:
            raise DBAPIError.instance(sql, params, exc, self.error) from exc

    def executemany(self, stmt: Statement, rows: Sequence[dict[str, Any] | tuple[Any, ...]]) -> None:
        """Run ``stmt`` once per parameter set (one driver call)."""
        sql = stmt.postgresql if self.postgresql else stmt.sqlite
        try:
            self._conn.cursor().executemany(sql, rows)
        except self.error as exc:
            raise DBAPIError.instance(sql, rows, exc, self.error) from exc

    def one(self, stmt: Statement, params: dict[str, Any] | tuple[Any, ...] = ()) -> Any:
        """The first row of ``stmt`` (a tuple), or None."""
        sql = stmt.postgresql if self.postgresql else stmt.sqlite
        try:
            return self._conn.execute(sql, params).fetchone()
        except self.error as exc:
            raise DBAPIError.instance(sql, params, exc, self.error) from exc

    def ts(self, value: datetime | None) -> Any:
        """A datetime as its column stores it (see the module's docstring)."""
        if value is None or self.postgresql:
            return value
        return sqlite_datetime(value)

    def dt(self, value: Any) -> datetime | None:
        """A datetime column's value as SQLAlchemy would read it."""
        if value is None or self.postgresql:
            return value  # type: ignore[no-any-return]
        return datetime.fromisoformat(value) if isinstance(value, str) else value


class Rows(Generic[R]):
    """A dataclass whose fields are a table's columns, in order: its SQL and its conversions.

    ``columns`` (quoted: "trigger" is a keyword) lists every column for a SELECT; ``insert``
    writes one record; ``values`` and ``record`` cross the driver with datetimes in the form
    their columns store (see the module's docstring).
    """

    __slots__ = ("_datetime_at", "_get", "_record", "columns", "insert")

    def __init__(self, record: type[R], table: str, datetimes: Collection[str]) -> None:
        names = tuple(f.name for f in fields(record))  # type: ignore[arg-type]
        self._record = record
        self._datetime_at = tuple(i for i, name in enumerate(names) if name in datetimes)
        self._get = attrgetter(*names)
        self.columns = ", ".join(f'"{name}"' for name in names)
        self.insert = Statement(
            f"INSERT INTO {table} ({self.columns}) VALUES ({', '.join('?' * len(names))})"
        )

    def values(self, raw: Raw, record: R) -> tuple[Any, ...]:
        """``record``'s values in column order, as the driver takes them."""
        values: tuple[Any, ...] = self._get(record)
        if raw.postgresql:
            return values
        converted = list(values)
        for i in self._datetime_at:
            converted[i] = raw.ts(converted[i])
        return tuple(converted)

    def record(self, raw: Raw, row: Any) -> R:
        """The record of a row selected with ``columns``."""
        if raw.postgresql:
            return self._record(*row)
        values = list(row)
        for i in self._datetime_at:
            values[i] = raw.dt(values[i])
        return self._record(*values)


def sqlite_datetime(value: datetime) -> str:
    """``sqlalchemy.dialects.sqlite.DATETIME``'s storage format: the wall time, no offset."""
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


# A unit of work: an ORM session, a Core connection, or (hot paths) a driver connection.
AnyTx = Session | Connection | Raw


def raw_of(tx: AnyTx) -> Raw:
    """The driver connection of a unit of work, inside its transaction (begun if need be)."""
    if isinstance(tx, Raw):
        return tx
    conn = tx.connection() if isinstance(tx, Session) else tx
    dbapi = conn.connection.dbapi_connection
    dialect = conn.dialect
    return Raw(dbapi, postgresql=dialect.name == "postgresql", error=dialect.loaded_dbapi.Error)
