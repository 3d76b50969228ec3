"""The buyer side: issuing payment codes and resolving a presented code to a buyer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from .. import ids
from ..clock import as_utc
from ..errors import ControlError
from ..sandbox.models import Buyer
from ..storage import next_sequence
from .models import PaymentCode


def issue_payment_code(
    session: Session, *, login_id: str, now: datetime, ttl_seconds: int
) -> PaymentCode:
    if session.get(Buyer, login_id) is None:
        raise ControlError(404, f"no buyer with loginId {login_id!r}")
    code = PaymentCode(
        code=ids.payment_code(next_sequence(session, "payment_code")),
        buyer_login_id=login_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(code)
    session.flush()
    return code


@dataclass(frozen=True, slots=True)
class CodeOutcome:
    """Either a buyer (the code was good and is now used) or the result code that ends the payment."""

    buyer: Buyer | None
    result_code: str
    detail: str


def redeem_payment_code(session: Session, *, code: str, now: datetime) -> CodeOutcome:
    """Check a presented code and mark it used, in the caller's transaction (spec §3.2)."""
    if not ids.is_payment_code_syntax(code):
        return CodeOutcome(None, "INVALID_PAYMENT_CODE", "not 16-24 digits starting 25-30")
    row = session.get(PaymentCode, code)
    if row is None:
        return CodeOutcome(None, "USER_NOT_EXIST", "no wallet user presented this code")
    if row.used_at is not None:
        return CodeOutcome(None, "INVALID_PAYMENT_CODE", "the code was already used")
    if as_utc(row.expires_at) <= now:
        return CodeOutcome(None, "EXPIRED_CODE", "the code expired")
    # Conditional update: two payments racing for one code cannot both win it.
    claimed = session.execute(
        update(PaymentCode)
        .where(col(PaymentCode.code) == code, col(PaymentCode.used_at).is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return CodeOutcome(None, "INVALID_PAYMENT_CODE", "the code was already used")
    buyer = session.get(Buyer, row.buyer_login_id)
    if buyer is None:
        return CodeOutcome(None, "USER_NOT_EXIST", "the buyer behind this code no longer exists")
    return CodeOutcome(buyer, "SUCCESS", "")


def display_customer_id(login_id: str) -> str:
    """Masked like the gateway's ``displayCustomerId`` (``tes***@example.com``)."""
    local, _, domain = login_id.partition("@")
    return f"{local[:3]}***@{domain}" if domain else f"{local[:3]}***"
