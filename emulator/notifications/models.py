"""The notification outbox and its delivery attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

# Spec §1.4: first attempt at once, then after 2 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h.
RETRY_DELAYS_SECONDS: tuple[int, ...] = (0, 120, 600, 600, 3600, 7200, 21600, 54000)


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    GIVEN_UP = "GIVEN_UP"
    SENT_ONCE = "SENT_ONCE"  # "edit and send" from the console: one attempt, no retries


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # PAYMENT_RESULT | REFUND_RESULT | REGISTRATION_STATUS
    client_id: str = Field(index=True, max_length=64)
    merchant_customer_id: str = Field(max_length=32)
    agent_token: str | None = Field(default=None, max_length=128)
    payment_id: str | None = Field(default=None, index=True, max_length=64)
    refund_id: str | None = Field(default=None, max_length=64)
    url: str = Field(max_length=2048)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=NotificationStatus.PENDING, max_length=16)
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # A worker owns a notification while it delivers it (several processes may share a database).
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class DeliveryAttempt(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(index=True)
    number: int
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    request_time: str = Field(max_length=64)
    http_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, max_length=512)
    latency_ms: float = 0.0
    acknowledged: bool = False
