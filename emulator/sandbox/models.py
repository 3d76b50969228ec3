"""Tables of the seeded world: applications, merchant keys, buyers, balances, agent tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class Application(SQLModel, table=True):
    client_id: str = Field(primary_key=True, max_length=64)
    name: str
    role: str = Field(max_length=16)
    customer_id: str = Field(index=True, max_length=32)
    test_currency: str = Field(max_length=3)
    settlement_currency: str = Field(max_length=3)
    product: str = "IN_STORE_PAYMENT"
    scenarios: str = "PaymentCode,OrderCode,EntryCode"
    sftp_username: str = Field(max_length=64)
    sftp_password: str = Field(max_length=64)
    isv_customer_id: str | None = None
    test_merchant_customer_id: str | None = None
    notification_url: str | None = None


class MerchantKey(SQLModel, table=True):
    """A merchant public key as uploaded in the developer center, per key version."""

    client_id: str = Field(primary_key=True, max_length=64)
    key_version: str = Field(primary_key=True, max_length=16)
    public_key: str


class Buyer(SQLModel, table=True):
    login_id: str = Field(primary_key=True, max_length=128)
    password: str
    name: str
    psp_customer_id: str = Field(max_length=32)
    behaviour: str = Field(max_length=32)


class Balance(SQLModel, table=True):
    """Funds per owner and currency, in minor units. Owners: ``buyer:<login>``, ``merchant:<customerId>``."""

    owner: str = Field(primary_key=True, max_length=160)
    currency: str = Field(primary_key=True, max_length=3)
    amount: int = 0


class AgentToken(SQLModel, table=True):
    """An ISV's authorisation to act for one merchant (``Agent-Token`` header)."""

    token: str = Field(primary_key=True, max_length=128)
    isv_client_id: str = Field(index=True, max_length=64)
    merchant_customer_id: str = Field(max_length=32)
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


def buyer_owner(login_id: str) -> str:
    return f"buyer:{login_id}"


def merchant_owner(customer_id: str) -> str:
    return f"merchant:{customer_id}"
