"""What the report generator has done (watermarks), and the indexes its day queries use.

``ReportMark`` rows survive restarts, so automatic generation is idempotent: a day is written
once when it becomes due, never again by the hook. ``reset`` wipes the table with every other,
which is how the generator notices a fresh world (and clears the previous world's files).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, Index
from sqlmodel import Field, SQLModel

from ..payments.models import Payment
from ..refunds.models import Refund

EPOCH = "epoch"  # present once the report folder matches this database
TRANSACTIONS = "transactions"  # ``through``: last transaction day whose details are written
SETTLEMENT = "settlement"  # ``through``: last settlement date whose batches are written


class ReportMark(SQLModel, table=True):
    kind: str = Field(primary_key=True, max_length=16)
    through: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ReportDownload(SQLModel, table=True):
    """A report fetched over HTTP or SFTP: the evidence of acceptance case RECON-001."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    channel: str = Field(max_length=8)  # http | sftp
    # The SFTP login's application; HTTP downloads are known by their customer folder only.
    client_id: str | None = Field(default=None, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    day: str = Field(max_length=8)  # the folder's yyyyMMdd
    name: str = Field(max_length=256)
    kind: str = Field(max_length=32)  # transactionItems | settlementItems | settlementSummary


# A report reads one GMT+8 day (or a settlement batch's days) out of every merchant's
# transactions; these keep that a range scan instead of a full scan at 1M rows.
REPORT_INDEXES = (
    Index("ix_report_payment_paid_at", Payment.__table__.c.paid_at),  # type: ignore[attr-defined]
    Index("ix_report_payment_cancelled_at", Payment.__table__.c.cancelled_at),  # type: ignore[attr-defined]
    Index("ix_report_refund_refund_time", Refund.__table__.c.refund_time),  # type: ignore[attr-defined]
)
