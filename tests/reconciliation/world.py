"""A hand-written world for report tests: applications and transactions inserted directly, with
fixed ids and times, so the generated files can be compared byte for byte."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import emulator.app  # noqa: F401 - registers every table before create_schema
from emulator.clock import GMT8, Clock, ClockState
from emulator.payments.models import Payment
from emulator.reconciliation.formats import END
from emulator.reconciliation.service import ReconciliationService
from emulator.refunds.models import Refund
from emulator.sandbox.models import Application
from emulator.settings import Settings
from emulator.storage import Database

USD_MERCHANT = "1022188000000000001"
JPY_MERCHANT = "1022188000000000002"
ISV_CUSTOMER = "1022188100000000003"
ISV_MERCHANT = "1022188200000000004"
DAY = "2090-03-14"  # a Tuesday


def gmt8(text: str) -> datetime:
    """``"2090-03-14 09:30:00"`` read as GMT+8, returned in UTC like the stored times."""
    return datetime.fromisoformat(text).replace(tzinfo=GMT8).astimezone(UTC)


def applications() -> list[Application]:
    """Fresh rows each call (a table instance, once added to a session, belongs to it)."""
    return [
        Application(
            client_id="SANDBOX_GOLDEN_USD",
            name="Golden Coffee (USD)",
            role="MERCHANT",
            customer_id=USD_MERCHANT,
            test_currency="USD",
            settlement_currency="USD",
            sftp_username=f"sftp_{USD_MERCHANT}",
            sftp_password="usd-secret",
        ),
        Application(
            client_id="SANDBOX_GOLDEN_JPY",
            name="Golden Ramen (JPY settled in USD)",
            role="MERCHANT",
            customer_id=JPY_MERCHANT,
            test_currency="JPY",
            settlement_currency="USD",
            sftp_username=f"sftp_{JPY_MERCHANT}",
            sftp_password="jpy-secret",
        ),
        Application(
            client_id="SANDBOX_GOLDEN_ISV",
            name="Golden POS vendor (ISV, HKD)",
            role="ISV",
            customer_id=ISV_CUSTOMER,
            test_currency="HKD",
            settlement_currency="HKD",
            sftp_username=f"sftp_{ISV_CUSTOMER}",
            sftp_password="isv-secret",
            isv_customer_id="1022188100000000099",
            test_merchant_customer_id=ISV_MERCHANT,
        ),
    ]


# customer -> (client ID, transaction currency)
_APP_BY_CUSTOMER = {a.customer_id: (a.client_id, a.test_currency) for a in applications()} | {
    ISV_MERCHANT: ("SANDBOX_GOLDEN_ISV", "HKD")
}


def payment(
    seq: int,
    *,
    customer: str = USD_MERCHANT,
    amount: int,
    paid: str | None,
    status: str = "SUCCESS",
    result_code: str = "SUCCESS",
    cancelled: str | None = None,
    description: str = "emulator order",
    scenario: str = "PaymentCode",
) -> Payment:
    client_id, currency = _APP_BY_CUSTOMER[customer]
    paid_at = gmt8(paid) if paid else None
    return Payment(
        payment_id=f"2090031411401080010000000000000{seq:04d}",
        merchant_customer_id=customer,
        client_id=client_id,
        payment_request_id=f"PAY-{seq:04d}",
        scenario=scenario,
        currency=currency,
        amount=amount,
        payment_method_type="CONNECT_WALLET",
        payment_method_id="281234567890123456",
        fingerprint="golden",
        buyer_login_id="buyer@sandbox.example",
        psp_customer_id="2088000000000001" if paid_at else None,
        status=status,
        result_code=result_code,
        result_message="golden",
        created_at=paid_at or gmt8(f"{DAY} 08:00:00"),
        paid_at=paid_at,
        cancelled_at=gmt8(cancelled) if cancelled else None,
        reference_order_id=f"ORDER-{seq:04d}",
        order_description=description,
        reference_merchant_id="M001",
        reference_store_id="S001",
    )


def refund(seq: int, of: Payment, *, amount: int, at: str, status: str = "SUCCESS") -> Refund:
    when = gmt8(at)
    return Refund(
        refund_id=f"2090031411401080130000000000000{seq:04d}",
        payment_id=of.payment_id,
        merchant_customer_id=of.merchant_customer_id,
        client_id=of.client_id,
        refund_request_id=f"REF-{seq:04d}",
        currency=of.currency,
        amount=amount,
        status=status,
        result_code="SUCCESS" if status == "SUCCESS" else "PROCESS_FAIL",
        result_message="golden",
        created_at=when,
        refund_time=when if status == "SUCCESS" else None,
        reference_refund_id=f"MY-REF-{seq:04d}",
    )


def golden_transactions() -> list[Any]:
    """Day 2090-03-14 GMT+8 and its neighbours, covering every inclusion rule."""
    p1 = payment(1, amount=10000, paid=f"{DAY} 09:30:00", description='Coffee, "large"')
    p_jpy = payment(10, customer=JPY_MERCHANT, amount=1234, paid=f"{DAY} 15:00:00")
    return [
        p1,
        refund(1, p1, amount=2500, at=f"{DAY} 10:00:00"),
        refund(2, p1, amount=1000, at="2090-03-15 08:00:00"),  # next day
        refund(3, p1, amount=10, at=f"{DAY} 10:30:00", status="FAIL"),  # failed: nowhere
        # Paid, then cancelled the same day: a PAYMENT and a CANCEL row, never settled.
        payment(
            2,
            amount=2000,
            paid=f"{DAY} 11:00:00",
            status="CANCELLED",
            cancelled=f"{DAY} 11:05:00",
        ),
        # Failed payment: nowhere.
        payment(3, amount=500, paid=f"{DAY} 11:10:00", status="FAIL", result_code="RISK_REJECT"),
        # An order code cancelled before anyone scanned it: no money moved, nowhere.
        payment(
            4,
            amount=700,
            paid=None,
            status="CANCELLED",
            cancelled=f"{DAY} 12:00:00",
            scenario="OrderCode",
        ),
        payment(5, amount=3000, paid=f"{DAY} 00:00:00"),  # first instant of the day
        payment(6, amount=4000, paid="2090-03-13 23:59:59.999999"),  # the day before
        payment(7, amount=5000, paid="2090-03-15 00:00:00"),  # the day after
        p_jpy,
        refund(10, p_jpy, amount=234, at=f"{DAY} 16:00:00"),
        payment(20, customer=ISV_MERCHANT, amount=8800, paid=f"{DAY} 20:00:00"),
    ]


@dataclass
class World:
    settings: Settings
    db: Database
    service: ReconciliationService

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def add(self, *rows: Any) -> None:
        with self.db.write() as session:
            for row in rows:
                session.add(row)

    def close(self) -> None:
        self.db.dispose()


def make_world(data_dir: Path, *, database_url: str | None = None, **settings: Any) -> World:
    s = Settings(
        data_dir=data_dir,
        database_url=database_url,
        tls_port=0,
        sftp_port=0,
        **settings,
    )
    db = Database(s.resolved_database_url)
    db.create_schema()
    clock = Clock(ClockState(frozen_at=datetime(2090, 3, 20, tzinfo=UTC)))
    world = World(settings=s, db=db, service=ReconciliationService(db=db, clock=clock, settings=s))
    world.add(*applications())
    return world


def read_report(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """Parse a report as a finance job would: by header names; checks the <END> trailer."""
    text = data.decode("utf-8")
    lines = text.split("\n")
    assert lines[-1] == END, f"last line is {lines[-1]!r}, not {END}"
    rows = list(csv.reader(io.StringIO("\n".join(lines[:-1]))))
    header, body = rows[0], rows[1:]
    for row in body:
        assert len(row) == len(header), (header, row)
    return header, [dict(zip(header, row, strict=True)) for row in body]


def next_day(day: str, days: int = 1) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=days)).date().isoformat()
