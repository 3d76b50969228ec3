"""The refund table."""

from __future__ import annotations

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
