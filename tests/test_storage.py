"""Storage on SQLite and PostgreSQL: idempotency under concurrency, conservation, restarts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from emulator import storage
from emulator.app import wire
from emulator.payments.models import Payment
from emulator.payments.service import PayCommand
from emulator.runtime import Runtime, build_runtime
from emulator.sandbox.access import Merchant
from emulator.sandbox.models import Balance
from emulator.settings import Settings
from emulator.storage import Database
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


def _merchant(rt: Runtime) -> Merchant:
    app = rt.definition.applications[0]
    return Merchant(app.client_id, app.customer_id, app.test_currency)


def _money(rt: Runtime) -> int:
    with rt.db.read() as s:
        return int(s.exec(select(func.sum(Balance.amount)).where(Balance.currency == "USD")).one())


def test_fifty_parallel_identical_pays_make_one_payment(runtime: Runtime) -> None:
    buyer = runtime.definition.buyers[0].login_id
    with runtime.db.write() as s:
        code = issue_payment_code(s, login_id=buyer, now=runtime.clock.now(), ttl_seconds=600).code
    money = _money(runtime)
    cmd = PayCommand(
        payment_request_id="SAME",
        scenario="PaymentCode",
        currency="USD",
        amount=700,
        payment_method_type="CONNECT_WALLET",
        payment_method_id=code,
        notify_url="http://127.0.0.1:9/notify",
    )
    merchant = _merchant(runtime)
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: runtime.payments.pay(merchant, cmd).payment, range(50)))
    assert {(p.payment_id, p.status, p.result_code) for p in results} == {
        (results[0].payment_id, "SUCCESS", "SUCCESS")
    }
    with runtime.db.read() as s:
        assert s.exec(select(func.count()).select_from(Payment)).one() == 1
    assert _money(runtime) == money


def test_parallel_different_pays_never_overdraw(runtime: Runtime) -> None:
    """Ten buyers' codes race on one small balance: the conditional debit keeps it >= 0."""
    poor = next(b for b in runtime.definition.buyers if b.behaviour == "insufficient_balance")
    with runtime.db.write() as s:
        codes = [
            issue_payment_code(s, login_id=poor.login_id, now=runtime.clock.now(), ttl_seconds=600).code
            for _ in range(10)
        ]
    merchant = _merchant(runtime)

    def pay(i: int) -> str:
        cmd = PayCommand(
            payment_request_id=f"P{i}",
            scenario="PaymentCode",
            currency="USD",
            amount=100,
            payment_method_type="CONNECT_WALLET",
            payment_method_id=codes[i],
            notify_url="http://127.0.0.1:9/notify",
        )
        return runtime.payments.pay(merchant, cmd).payment.result_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(pay, range(10)))
    assert outcomes.count("SUCCESS") == poor.balances["USD"] // 100
    assert outcomes.count("USER_BALANCE_NOT_ENOUGH") == 10 - poor.balances["USD"] // 100


def test_mixed_pay_refund_cancel_on_one_buyer_never_deadlocks(runtime: Runtime) -> None:
    """Pay moves buyer -> merchant, refund and cancel merchant -> buyer: one lock order for all.

    Before the fix, 8 threads of this on PostgreSQL got about half their calls killed as
    deadlock victims (207 deadlocks in 400 calls).
    """
    from sqlalchemy import text

    from emulator.refunds.service import RefundCommand

    buyer = next(b for b in runtime.definition.buyers if b.behaviour == "normal").login_id
    merchant = _merchant(runtime)
    money = _money(runtime)
    failures: list[str] = []

    def work(n: int) -> None:
        for i in range(25):
            with runtime.db.write() as s:
                code = issue_payment_code(s, login_id=buyer, now=runtime.clock.now(), ttl_seconds=600).code
            cmd = PayCommand(
                payment_request_id=f"MIX-{n}-{i}",
                scenario="PaymentCode",
                currency="USD",
                amount=100,
                payment_method_type="CONNECT_WALLET",
                payment_method_id=code,
                notify_url="http://127.0.0.1:9/notify",  # required since #12; nothing delivers here
            )
            try:
                paid = runtime.payments.pay(merchant, cmd).payment
                if i % 2:
                    refund = RefundCommand(
                        refund_request_id=f"R-{n}-{i}", payment_id=paid.payment_id, currency="USD", amount=50
                    )
                    assert runtime.refunds.refund(merchant, refund).result_code == "SUCCESS"
                else:
                    runtime.payments.cancel(merchant, payment_id=paid.payment_id, payment_request_id=None)
            except Exception as exc:
                failures.append(repr(exc)[:200])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    assert failures == []
    assert _money(runtime) == money
    if runtime.db.dialect == "postgresql":
        with runtime.db.read_connection() as conn:
            deadlocks = conn.execute(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar()
        assert deadlocks == 0


def test_a_database_from_an_earlier_version_gets_the_new_columns(tmp_path: Path) -> None:
    """create_all never alters a table: columns (nullable) and indexes added since are added on start."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import text as sa_text

    from emulator.reconciliation.models import REPORT_INDEXES
    from emulator.storage import Database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    db.create_schema()
    with db.engine.begin() as conn:
        conn.execute(sa_text("ALTER TABLE application DROP COLUMN notification_url"))
        conn.execute(sa_text("ALTER TABLE payment DROP COLUMN merchant_name"))
        conn.execute(sa_text(f"DROP INDEX {REPORT_INDEXES[0].name}"))
    db.dispose()
    db = Database(url)  # the next start, on the database of the earlier version
    db.create_schema()
    with db.engine.connect() as conn:
        found = sa_inspect(conn)
        assert "notification_url" in {c["name"] for c in found.get_columns("application")}
        assert "merchant_name" in {c["name"] for c in found.get_columns("payment")}
        assert REPORT_INDEXES[0].name in {i["name"] for i in found.get_indexes("payment")}
    db.dispose()


def _pay(rt: Runtime, request_id: str) -> Payment:
    buyer = next(b for b in rt.definition.buyers if b.behaviour == "normal").login_id
    with rt.db.write() as s:
        code = issue_payment_code(s, login_id=buyer, now=rt.clock.now(), ttl_seconds=600).code
    cmd = PayCommand(
        payment_request_id=request_id,
        scenario="PaymentCode",
        currency="USD",
        amount=100,
        payment_method_type="CONNECT_WALLET",
        payment_method_id=code,
        notify_url="http://127.0.0.1:9/notify",
    )
    return rt.payments.pay(_merchant(rt), cmd).payment


def _stored(rt: Runtime) -> dict[str, int]:
    from emulator.notifications.models import Notification
    from emulator.wallet.models import PaymentCode

    with rt.db.read() as s:
        return {
            m.__name__: int(s.exec(select(func.count()).select_from(m)).one())
            for m in (Payment, PaymentCode, Notification)
        }


def _last_notification_id(rt: Runtime) -> int:
    from emulator.notifications.models import Notification

    with rt.db.read() as s:
        return int(s.exec(select(func.max(Notification.id))).one() or 0)


def test_a_full_reset_by_truncation_empties_the_tables_and_reuses_no_id(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL every traffic table is truncated here (threshold 0): identities continue."""
    from emulator.sandbox import service as sandbox

    monkeypatch.setattr(sandbox, "TRUNCATE_FROM_BYTES", 0)
    money = _money(runtime)
    before = [_pay(runtime, f"BEFORE-{i}") for i in range(3)]
    note = _last_notification_id(runtime)
    assert _money(runtime) == money and note > 0
    runtime.reset()
    assert _stored(runtime) == {"Payment": 0, "PaymentCode": 0, "Notification": 0}
    assert _money(runtime) == money
    buyer = next(b for b in runtime.definition.buyers if b.behaviour == "normal")
    with runtime.db.read() as s:
        held = s.exec(
            select(Balance.amount).where(
                Balance.owner == f"buyer:{buyer.login_id}", Balance.currency == "USD"
            )
        ).one()
    assert held == buyer.balances["USD"]  # the 3 pays were given back
    after = _pay(runtime, "BEFORE-0")  # a request id of before the reset is new again
    assert after.status == "SUCCESS"
    assert after.payment_id not in {p.payment_id for p in before}
    if runtime.db.dialect == "postgresql":  # SQLite's rowids start again on an empty table
        assert _last_notification_id(runtime) > note


def test_a_full_reset_deletes_when_another_transaction_holds_a_table(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TRUNCATE gives up after its lock timeout; the reset then deletes the rows instead."""
    from sqlalchemy import text

    from emulator.sandbox import service as sandbox

    if runtime.db.dialect != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    monkeypatch.setattr(sandbox, "TRUNCATE_FROM_BYTES", 0)
    monkeypatch.setattr(sandbox, "TRUNCATE_LOCK_TIMEOUT", "50ms")
    _pay(runtime, "HELD")
    with runtime.db.engine.connect() as reader:
        assert reader.execute(text("SELECT count(*) FROM payment")).scalar() == 1  # holds ACCESS SHARE
        runtime.reset()
        reader.rollback()
    assert _stored(runtime) == {"Payment": 0, "PaymentCode": 0, "Notification": 0}


def test_a_full_reset_on_sqlite_leaves_secure_delete_as_it_was(tmp_path: Path) -> None:
    from emulator.sandbox import service as sandbox

    rt = build_runtime(Settings(data_dir=tmp_path / "data", tls_port=0))
    try:
        _pay(rt, "P1")
        with rt.db.write_connection() as conn:
            before = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
            conn.exec_driver_sql("PRAGMA secure_delete=1")
            sandbox.wipe(conn)
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
            conn.exec_driver_sql(f"PRAGMA secure_delete={before}")
        assert _stored(rt) == {"Payment": 0, "PaymentCode": 0, "Notification": 0}
    finally:
        rt.close()


def _sqlite_with_log(tmp_path: Path, rows: int) -> tuple[Database, Path]:
    db = Database(f"sqlite:///{tmp_path / 'ck.db'}")
    db.create_schema()
    for i in range(rows):
        db.transaction_connection(
            lambda conn, i=i: conn.exec_driver_sql(
                "INSERT INTO journal (id, client_id, path, data) VALUES (?, 'c', '/p', ?)", (i, "x" * 3000)
            )
        )
    return db, tmp_path / "ck.db-wal"


def test_a_checkpoint_below_the_bound_leaves_the_log_to_grow(tmp_path: Path) -> None:
    db, wal = _sqlite_with_log(tmp_path, 40)
    frames = db.checkpoint()
    assert 0 < frames < storage.WAL_RESTART_FRAMES
    assert wal.stat().st_size > 0
    db.dispose()


def _log_frames(db: Database) -> int:
    with db.read_connection() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])


def test_a_log_past_the_bound_is_checkpointed_and_restarted_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "WAL_RESTART_FRAMES", 32)
    db, wal = _sqlite_with_log(tmp_path, 40)
    size = wal.stat().st_size
    assert db.checkpoint() == 0
    with db.read_connection() as conn:  # nothing lost, and writers go on
        assert conn.exec_driver_sql("SELECT count(*) FROM journal").scalar_one() == 40
    db.transaction_connection(lambda conn: conn.exec_driver_sql("DELETE FROM journal WHERE id = 0"))
    # The next write began the log again at the start of the file it kept (no regrowth).
    assert 0 < _log_frames(db) < 8
    assert wal.stat().st_size == size
    db.dispose()


def test_a_restarted_log_is_cut_back_to_the_kept_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "WAL_RESTART_FRAMES", 32)
    monkeypatch.setattr(storage, "WAL_KEPT_BYTES", 8 * (4096 + 24))
    db, wal = _sqlite_with_log(tmp_path, 40)
    assert wal.stat().st_size > storage.WAL_KEPT_BYTES
    assert db.checkpoint() == 0
    db.transaction_connection(lambda conn: conn.exec_driver_sql("DELETE FROM journal WHERE id = 0"))
    assert wal.stat().st_size <= storage.WAL_KEPT_BYTES
    db.dispose()


def test_a_restarting_checkpoint_gives_up_on_a_reader_that_holds_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "WAL_RESTART_FRAMES", 32)
    db, wal = _sqlite_with_log(tmp_path, 40)
    with db.read_connection() as reader:
        reader.exec_driver_sql("BEGIN")  # a read transaction on the log's current snapshot
        reader.exec_driver_sql("SELECT count(*) FROM journal").scalar_one()
        db.transaction_connection(  # a frame past that snapshot: the log cannot start afresh
            lambda conn: conn.exec_driver_sql("DELETE FROM journal WHERE id = 1")
        )
        started = time.monotonic()
        assert db.checkpoint() > 0
        assert time.monotonic() - started < 2  # gave up after WAL_RESTART_WAIT_MS, not 30 s
        reader.exec_driver_sql("COMMIT")
    assert wal.stat().st_size > 0
    assert db.checkpoint() == 0  # the next tick succeeds
    db.dispose()
