"""Payment codes issued to buyers (single use, short-lived)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class PaymentCode(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=32)
    buyer_login_id: str = Field(index=True, max_length=128)
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
