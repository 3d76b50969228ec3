"""The payment table and its status rules (spec §4.9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Column, DateTime, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class PaymentStatus(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELLED = "CANCELLED"


# Allowed status edges, declared once and checked in one place (``Payment.move_to``).
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PROCESSING: frozenset({PaymentStatus.SUCCESS, PaymentStatus.FAIL, PaymentStatus.CANCELLED}),
    PaymentStatus.SUCCESS: frozenset({PaymentStatus.CANCELLED}),
    PaymentStatus.FAIL: frozenset({PaymentStatus.CANCELLED}),
    PaymentStatus.CANCELLED: frozenset(),
}


class PaymentView(Protocol):
    """What reading a payment needs: a ``Payment`` or a plain row of its table (inquiry's fast path)."""

    @property
    def payment_id(self) -> str: ...
    @property
    def payment_request_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def result_code(self) -> str: ...
    @property
    def result_message(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def paid_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def buyer_login_id(self) -> str | None: ...
    @property
    def psp_customer_id(self) -> str | None: ...
    @property
    def display_customer_id(self) -> str | None: ...
    @property
    def trigger(self) -> str | None: ...
    @property
    def refund_count(self) -> int: ...


class IllegalTransition(RuntimeError):
    pass


def check_transition(payment_id: str, current: str, status: PaymentStatus) -> None:
    if status not in TRANSITIONS[PaymentStatus(current)]:
        raise IllegalTransition(f"payment {payment_id}: {PaymentStatus(current)} -> {status}")


def _ts(nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


# The due-work scan (expiries, verification timeouts, delayed completions) runs every second:
# it reads only PROCESSING payments through this partial index, which a payment that completes
# in its pay (most of them) never enters. Queries must spell the literal (OPEN) to use it.
OPEN = "status = 'PROCESSING'"


class Payment(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("merchant_customer_id", "payment_request_id"),
        Index("ix_payment_open", "status", sqlite_where=text(OPEN), postgresql_where=text(OPEN)),
    )

    payment_id: str = Field(primary_key=True, max_length=64)
    # Looked up through the unique (merchant, paymentRequestId) index; no index of their own,
    # each would cost a page write on every pay.
    merchant_customer_id: str = Field(max_length=32)
    client_id: str = Field(max_length=64)
    payment_request_id: str = Field(max_length=64)
    scenario: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    amount: int
    payment_method_type: str = Field(max_length=64)
    payment_method_id: str | None = Field(default=None, max_length=128)
    fingerprint: str
    buyer_login_id: str | None = Field(default=None, max_length=128)
    psp_customer_id: str | None = Field(default=None, max_length=32)
    display_customer_id: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=16)
    result_code: str = Field(max_length=64)
    result_message: str = Field(max_length=256)
    created_at: datetime = Field(sa_column=_ts(False))
    paid_at: datetime | None = Field(default=None, sa_column=_ts())
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts())
    expires_at: datetime | None = Field(default=None, sa_column=_ts())
    refunded_amount: int = 0
    # Refund attempts of any outcome (inquiry lists them as transactions only when there are any).
    refund_count: int = 0
    notify_url: str | None = Field(default=None, max_length=2048)
    reference_order_id: str | None = Field(default=None, max_length=64)
    order_description: str | None = Field(default=None, max_length=256)
    merchant_name: str | None = Field(default=None, max_length=256)
    reference_merchant_id: str | None = Field(default=None, max_length=64)
    reference_store_id: str | None = Field(default=None, max_length=64)
    agent_token: str | None = Field(default=None, max_length=128)
    # Order/entry codes: the value the buyer scans (unique per payment).
    code_value: str | None = Field(default=None, unique=True, max_length=512)
    # A sandbox trigger action attached at pay time (fixtures' [[triggers]]).
    trigger: str | None = Field(default=None, max_length=32)
    # Due work on the emulator clock: delayed completion (trigger 9901), verification timeout.
    complete_at: datetime | None = Field(default=None, sa_column=_ts())
    verify_by: datetime | None = Field(default=None, sa_column=_ts())

    def move_to(self, status: PaymentStatus) -> None:
        check_transition(self.payment_id, self.status, status)
        self.status = status


@dataclass(slots=True)
class PaymentRecord:
    """A payment row as a plain record, for the gateway's hot paths (no ORM state, issue #15).

    The fields are the ``payment`` table's columns in their order (a test checks it), so a row
    is ``PaymentRecord(*row)`` and an INSERT takes ``astuple``-like values in the same order.
    """

    payment_id: str
    merchant_customer_id: str
    client_id: str
    payment_request_id: str
    scenario: str
    currency: str
    amount: int
    payment_method_type: str
    payment_method_id: str | None
    fingerprint: str
    buyer_login_id: str | None
    psp_customer_id: str | None
    display_customer_id: str | None
    status: str
    result_code: str
    result_message: str
    created_at: datetime
    paid_at: datetime | None = None
    cancelled_at: datetime | None = None
    expires_at: datetime | None = None
    refunded_amount: int = 0
    refund_count: int = 0
    notify_url: str | None = None
    reference_order_id: str | None = None
    order_description: str | None = None
    merchant_name: str | None = None
    reference_merchant_id: str | None = None
    reference_store_id: str | None = None
    agent_token: str | None = None
    code_value: str | None = None
    trigger: str | None = None
    complete_at: datetime | None = None
    verify_by: datetime | None = None

    def move_to(self, status: PaymentStatus) -> None:
        check_transition(self.payment_id, self.status, status)
        self.status = status


# The datetime columns of ``payment`` (converted on the way in and out on SQLite).
PAYMENT_DATETIMES = ("created_at", "paid_at", "cancelled_at", "expires_at", "complete_at", "verify_by")
# Either form of a payment: the ORM entity (wallet, console, due work) or the hot paths' record.
AnyPayment = Payment | PaymentRecord
