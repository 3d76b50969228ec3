"""The buyer side: issuing payment codes and resolving a presented code to a buyer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from .. import ids
from ..errors import ControlError
from ..hotsql import AnyTx, Statement, raw_of
from ..sandbox.models import Buyer
from ..storage import next_sequence
from .models import PaymentCode


def issue_payment_code(
    session: Session, *, login_id: str, now: datetime, ttl_seconds: int, digits: int = 18
) -> PaymentCode:
    """A fresh code for the buyer: 18 digits like most wallets, or 16-24 (some show 24)."""
    if digits not in ids.PAYMENT_CODE_DIGITS:
        raise ControlError(422, "digits: a payment code has 16 to 24 digits")
    if session.get(Buyer, login_id) is None:
        raise ControlError(404, f"no buyer with loginId {login_id!r}")
    code = PaymentCode(
        code=ids.payment_code(next_sequence(session, "payment_code"), digits),
        buyer_login_id=login_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(code)
    session.flush()
    return code


@dataclass(frozen=True, slots=True)
class CodeOutcome:
    """Either the buyer who presented the code (it is used now) or the code that ends the payment."""

    buyer_login_id: str | None
    result_code: str
    detail: str


_CODES = PaymentCode.__table__.name  # type: ignore[attr-defined]
# Claim and check in one statement: two payments racing for one code cannot both win it.
_CLAIM = Statement(
    f"UPDATE {_CODES} SET used_at = :t WHERE code = :k AND used_at IS NULL AND expires_at > :t "
    "RETURNING buyer_login_id"
)
_WHY_NOT = Statement(f"SELECT used_at FROM {_CODES} WHERE code = :k")


def redeem_payment_code(tx: AnyTx, *, code: str, now: datetime) -> CodeOutcome:
    """Check a presented code and mark it used, in the caller's transaction (spec §3.2)."""
    if not ids.is_payment_code_syntax(code):
        return CodeOutcome(None, "INVALID_PAYMENT_CODE", "not 16-24 digits starting 25-30")
    raw = raw_of(tx)
    claimed = raw.one(_CLAIM, {"k": code, "t": raw.ts(now)})
    if claimed is not None:
        return CodeOutcome(str(claimed[0]), "SUCCESS", "")
    row = raw.one(_WHY_NOT, {"k": code})
    if row is None:
        return CodeOutcome(None, "USER_NOT_EXIST", "no wallet user presented this code")
    if row[0] is not None:
        return CodeOutcome(None, "INVALID_PAYMENT_CODE", "the code was already used")
    return CodeOutcome(None, "EXPIRED_CODE", "the code expired")


def display_customer_id(login_id: str) -> str:
    """Masked like the gateway's ``displayCustomerId`` (``tes***@example.com``)."""
    local, _, domain = login_id.partition("@")
    return f"{local[:3]}***@{domain}" if domain else f"{local[:3]}***"


def code_of_buyer(session: Session, *, login_id: str, code: str) -> str:
    """``code`` when it is a payment code issued to ``login_id`` (for its barcode and QR code)."""
    row = session.get(PaymentCode, code)
    if row is None or row.buyer_login_id != login_id:
        raise ControlError(404, "code: not a payment code of this buyer")
    return row.code
