"""The hot paths' SQL on the driver's connection (issue #15): same rows, same errors, same retry."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from emulator.app import wire
from emulator.clock import as_utc
from emulator.hotsql import Raw, Statement, sqlite_datetime
from emulator.notifications.models import Notification
from emulator.payments.models import Payment, PaymentRecord
from emulator.payments.service import PayCommand
from emulator.refunds.models import Refund, RefundRecord
from emulator.refunds.service import RefundCommand
from emulator.runtime import Runtime, build_runtime
from emulator.sandbox.access import Merchant
from emulator.settings import Settings
from emulator.storage import Counter, Database
from emulator.wallet.service import issue_payment_code

from .support import POSTGRES_ENV, postgres_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "postgres" and not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set")
    ctx: Any = postgres_database() if request.param == "postgres" else nullcontext(None)
    with ctx as url:
        rt = wire(build_runtime(Settings(data_dir=tmp_path / "data", database_url=url, tls_port=0)))
        try:
            yield rt
        finally:
            rt.close()


def test_records_have_the_tables_columns_in_order() -> None:
    for record, model in ((PaymentRecord, Payment), (RefundRecord, Refund)):
        table = model.__table__  # type: ignore[attr-defined]
        assert [f.name for f in fields(record)] == [c.name for c in table.columns]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 26, 4, 22, 19, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 999999),
        datetime(1999, 12, 31, 23, 59, 59, 120000, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_sqlite_datetimes_are_stored_as_sqlalchemy_stores_them(value: datetime) -> None:
    dialect = sqlite.dialect()
    column_type = Payment.__table__.c.created_at.type.dialect_impl(dialect)  # type: ignore[attr-defined]
    bind = column_type.bind_processor(dialect)
    assert sqlite_datetime(value) == bind(value)
    read = column_type.result_processor(dialect, None)
    raw = Raw(None, postgresql=False, error=Exception)
    assert raw.dt(sqlite_datetime(value)) == read(bind(value))


def test_statements_are_rendered_for_both_drivers() -> None:
    stmt = Statement("SELECT a::int FROM t WHERE k = :k AND v > ? AND w = :w_2{lock}")
    assert stmt.sqlite == "SELECT a::int FROM t WHERE k = :k AND v > ? AND w = :w_2"
    assert stmt.postgresql == "SELECT a::int FROM t WHERE k = %(k)s AND v > %s AND w = %(w_2)s FOR UPDATE"
    claim = Statement("SELECT id FROM t LIMIT :n{claim}")
    assert (claim.sqlite, claim.postgresql) == (
        "SELECT id FROM t LIMIT :n",
        "SELECT id FROM t LIMIT %(n)s FOR UPDATE SKIP LOCKED",
    )


def _merchant(rt: Runtime) -> Merchant:
    app = rt.definition.applications[0]
    return Merchant(app.client_id, app.customer_id, app.test_currency)


def test_rows_written_on_the_hot_paths_read_back_identically_through_the_orm(runtime: Runtime) -> None:
    rt, merchant = runtime, _merchant(runtime)
    login = rt.definition.buyers[0].login_id
    with rt.db.write() as s:
        code = issue_payment_code(s, login_id=login, now=rt.clock.now(), ttl_seconds=600).code
    cmd = PayCommand(
        payment_request_id="HOT-1",
        scenario="PaymentCode",
        currency=merchant.currency,
        amount=1500,
        payment_method_type="CONNECT_WALLET",
        payment_method_id=code,
        notify_url="https://merchant.example/notify",
        order_description="hot path",
        reference_order_id="ORDER-HOT-1",
    )
    paid = rt.payments.pay(merchant, cmd).payment
    assert paid.status == "SUCCESS"
    refund = rt.refunds.refund(
        merchant,
        RefundCommand(
            refund_request_id="HOT-R1",
            payment_id=paid.payment_id,
            currency=merchant.currency,
            amount=500,
            notify_url="https://merchant.example/refunds",
        ),
    )
    inquired = rt.payments.inquiry_payment(merchant, payment_id=paid.payment_id, payment_request_id=None)
    with rt.db.read() as s:
        stored = s.exec(select(Payment).where(Payment.payment_id == paid.payment_id)).one()
        stored_refund = s.exec(select(Refund).where(Refund.refund_id == refund.refund_id)).one()
        kinds = s.exec(select(Notification.kind).where(Notification.payment_id == paid.payment_id)).all()
    for f in fields(PaymentRecord):
        ours, theirs = getattr(inquired, f.name), getattr(stored, f.name)
        if isinstance(theirs, datetime):
            assert as_utc(ours) == as_utc(theirs), f.name
        else:
            assert ours == theirs, f.name
    assert (stored.refund_count, stored.refunded_amount) == (1, 500)
    assert as_utc(stored.paid_at) == as_utc(paid.paid_at)  # type: ignore[arg-type]
    assert as_utc(stored_refund.refund_time) == as_utc(refund.refund_time)  # type: ignore[arg-type]
    assert sorted(kinds) == ["PAYMENT_RESULT", "REFUND_RESULT"]
    # A repeated refund replays the stored one (read on the hot path).
    again = rt.refunds.refund(
        merchant,
        RefundCommand(
            refund_request_id="HOT-R1", payment_id=paid.payment_id, currency=merchant.currency, amount=500
        ),
    )
    assert (again.refund_id, as_utc(again.created_at)) == (refund.refund_id, as_utc(refund.created_at))


def test_driver_errors_are_sqlalchemy_errors_and_roll_back(runtime: Runtime) -> None:
    insert = Statement("INSERT INTO counter (name, value) VALUES (:n, :v)")

    def work(raw: Raw) -> None:
        raw.execute(insert, {"n": "hot-a", "v": 1})
        raw.execute(insert, {"n": "hot-b", "v": 1})
        raw.execute(insert, {"n": "hot-a", "v": 2})

    with pytest.raises(IntegrityError):
        runtime.db.hot_transaction(work)
    with runtime.db.read() as s:
        assert s.exec(select(Counter).where(Counter.name.in_(["hot-a", "hot-b"]))).all() == []  # type: ignore[attr-defined]
    # The connection is usable afterwards.
    runtime.db.hot_transaction(lambda raw: raw.execute(insert, {"n": "hot-a", "v": 3}))
    assert runtime.db.hot_read(
        lambda raw: raw.one(Statement("SELECT value FROM counter WHERE name = :n"), {"n": "hot-a"})
    ) == (3,)


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlock_victim_runs_again_from_the_start(runtime: Runtime) -> None:
    insert = Statement("INSERT INTO counter (name, value) VALUES (:n, :v)")
    attempts: list[int] = []

    def work(raw: Raw) -> int:
        attempts.append(1)
        raw.execute(insert, {"n": "hot-retry", "v": len(attempts)})
        if len(attempts) == 1:
            raise DBAPIError("UPDATE balance ...", {}, _Deadlock())
        return len(attempts)

    assert runtime.db.hot_transaction(work) == 2
    with runtime.db.read() as s:
        assert s.get(Counter, "hot-retry") is not None
        assert s.get(Counter, "hot-retry").value == 2  # type: ignore[union-attr]


def _sqlite_file(rt: Runtime) -> str:
    url = rt.settings.resolved_database_url
    return url.split("///", 1)[1].split("?")[0]


def test_a_hot_writer_waits_in_short_steps_for_another_processs_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a lock held elsewhere delays the transaction by about as long as it is held."""
    rt = wire(build_runtime(Settings(data_dir=tmp_path / "data", tls_port=0)))
    insert = Statement("INSERT INTO counter (name, value) VALUES (:n, :v)")
    try:
        other = sqlite3.connect(_sqlite_file(rt), isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock
        release = threading.Timer(0.15, other.execute, ("COMMIT",))
        started = time.monotonic()
        release.start()
        rt.db.hot_transaction(lambda raw: raw.execute(insert, {"n": "waited", "v": 1}))
        waited = time.monotonic() - started
        release.join()
        assert 0.14 <= waited < 0.5
        # Held past the busy deadline: the wait ends with the driver's "database is locked".
        monkeypatch.setattr("emulator.storage.SQLITE_BUSY_SECONDS", 0.05)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DBAPIError, match="locked"):
            rt.db.hot_transaction(lambda raw: raw.execute(insert, {"n": "never", "v": 1}))
        other.execute("COMMIT")
        other.close()
        with rt.db.read() as s:
            assert s.get(Counter, "waited") is not None
            assert s.get(Counter, "never") is None
        # A hot writer handed back to the pool gets SQLite's busy timeout back for ORM writes.
        monkeypatch.setattr("emulator.storage.SQLITE_BUSY_SECONDS", 30.0)
        released: list[Any] = []
        release_of = Database._hot_release

        def spy(db: Database, fairy: Any, *, autocommit: bool) -> None:
            released.append(fairy.dbapi_connection)
            release_of(db, fairy, autocommit=autocommit)

        monkeypatch.setattr(Database, "_hot_release", spy)
        monkeypatch.setattr("emulator.storage.HOT_CONNECTIONS", 0)  # every check-in releases
        rt.db.hot_transaction(lambda raw: raw.execute(insert, {"n": "released", "v": 1}))
        assert released
        assert [c.execute("PRAGMA busy_timeout").fetchone()[0] for c in released] == [30000] * len(released)
    finally:
        rt.close()
