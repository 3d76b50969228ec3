"""The refund table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


class RefundStatus(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


class Refund(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("merchant_customer_id", "refund_request_id"),)

    refund_id: str = Field(primary_key=True, max_length=64)
    payment_id: str = Field(index=True, max_length=64)
    merchant_customer_id: str = Field(index=True, max_length=32)
    client_id: str = Field(index=True, max_length=64)
    refund_request_id: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    amount: int
    status: str = Field(max_length=16)
    result_code: str = Field(max_length=64)
    result_message: str = Field(max_length=256)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    refund_time: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reason: str | None = Field(default=None, max_length=256)
    reference_refund_id: str | None = Field(default=None, max_length=64)
    notify_url: str | None = Field(default=None, max_length=2048)


@dataclass(slots=True)
class RefundRecord:
    """A refund row as a plain record (the hot path, issue #15): the table's columns, in order."""

    refund_id: str
    payment_id: str
    merchant_customer_id: str
    client_id: str
    refund_request_id: str
    currency: str
    amount: int
    status: str
    result_code: str
    result_message: str
    created_at: datetime
    refund_time: datetime | None = None
    reason: str | None = None
    reference_refund_id: str | None = None
    notify_url: str | None = None


REFUND_DATETIMES = ("created_at", "refund_time")
# Either form of a refund: the ORM entity or the hot path's record.
AnyRefund = Refund | RefundRecord
