"""Merchant registrations (spec §1.3, §4.7): one row per registration request of an acquirer or ISV."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class RegistrationStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


# State progression is data (house rule 5): a review ends a pending registration, nothing else moves.
TRANSITIONS: dict[RegistrationStatus, frozenset[RegistrationStatus]] = {
    RegistrationStatus.PENDING: frozenset({RegistrationStatus.APPROVED, RegistrationStatus.REJECTED}),
    RegistrationStatus.APPROVED: frozenset(),
    RegistrationStatus.REJECTED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


class Registration(SQLModel, table=True):
    # registrationRequestId is the idempotency key of the calling application (spec §4.8).
    __table_args__ = (
        UniqueConstraint("client_id", "registration_request_id", name="uq_registration_request"),
    )

    registration_id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(index=True, max_length=64)
    merchant_customer_id: str = Field(max_length=32)
    agent_token: str | None = Field(default=None, max_length=128)
    registration_request_id: str = Field(max_length=64)
    reference_merchant_id: str = Field(index=True, max_length=64)
    reference_store_id: str | None = Field(default=None, max_length=64)
    merchant_name: str | None = Field(default=None, max_length=256)
    store_name: str | None = Field(default=None, max_length=256)
    product_codes: str = Field(max_length=256)  # comma-separated
    notify_url: str | None = Field(default=None, max_length=2048)
    # merchantInfo / storeInfo / passThroughInfo as received (JSON), answered by inquiryRegistrationInfo.
    merchant_info: str = Field(sa_column=Column(Text, nullable=False))
    store_info: str | None = Field(default=None, sa_column=Column(Text))
    pass_through_info: str | None = Field(default=None, sa_column=Column(Text))
    fingerprint: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=RegistrationStatus.PENDING, max_length=16)
    # The outcome the review will reach (fixture table or control call) and the rejection reason.
    outcome: str = Field(default=RegistrationStatus.APPROVED, max_length=16)
    reason: str | None = Field(default=None, max_length=256)
    chosen_by: str = Field(default="default", max_length=32)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    review_due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    notification_id: int | None = None

    def move_to(self, status: RegistrationStatus) -> None:
        current = RegistrationStatus(self.status)
        if status not in TRANSITIONS[current]:
            raise IllegalTransition(f"registration {self.registration_id}: {current} -> {status}")
        self.status = status


def status_fields(r: Registration, *, psps: tuple[str, ...]) -> dict[str, object]:
    """``registrationResult`` and ``pspRegistrationResultList`` (spec §1.4 nrs, §4.7 irs)."""
    result: dict[str, str] = {"registrationStatus": r.status}
    if r.status == RegistrationStatus.REJECTED and r.reason:
        result["rejectReason"] = r.reason
    return {
        "registrationResult": result,
        "pspRegistrationResultList": [{"pspName": name, "registrationResult": dict(result)} for name in psps],
    }
