"""Reading payments and their refunds for people and tests (console, control API). No HTTP here."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from ..clock import iso
from ..errors import ControlError
from ..refunds.models import Refund
from ..storage import Database
from .models import Payment, PaymentStatus

STATUSES = tuple(s.value for s in PaymentStatus)


def list_payments(
    db: Database,
    *,
    client_id: str | None = None,
    status: str | None = None,
    buyer_login_id: str | None = None,
    limit: int = 100,
) -> list[Payment]:
    """Newest first; ``status`` is one of PROCESSING, SUCCESS, FAIL, CANCELLED."""
    if status and status not in STATUSES:
        raise ControlError(422, f"status: one of {', '.join(STATUSES)}")
    query = select(Payment).order_by(col(Payment.created_at).desc(), col(Payment.payment_id).desc())
    if client_id:
        query = query.where(Payment.client_id == client_id)
    if status:
        query = query.where(Payment.status == status)
    if buyer_login_id:
        query = query.where(Payment.buyer_login_id == buyer_login_id)
    with db.read() as session:
        return list(session.exec(query.limit(max(1, min(limit, 1000)))).all())


def get_payment(db: Database, payment_id: str) -> tuple[Payment, list[Refund]]:
    """The payment and its refunds (oldest first); 404 naming the id when there is none."""
    with db.read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise ControlError(404, f"paymentId: no payment {payment_id!r}")
        refunds = session.exec(
            select(Refund).where(Refund.payment_id == payment_id).order_by(col(Refund.created_at))
        ).all()
    return payment, list(refunds)


def waiting_for_buyer(payment: Payment) -> bool:
    """Scanned or presented, and now waiting for the buyer's PIN/OTP (verification)."""
    return payment.status == PaymentStatus.PROCESSING and payment.verify_by is not None


def payment_public(p: Payment) -> dict[str, Any]:
    return {
        "paymentId": p.payment_id,
        "paymentRequestId": p.payment_request_id,
        "clientId": p.client_id,
        "merchantCustomerId": p.merchant_customer_id,
        "scenario": p.scenario,
        "paymentStatus": p.status,
        "resultCode": p.result_code,
        "resultMessage": p.result_message,
        "amount": {"currency": p.currency, "value": str(p.amount)},
        "refundedAmount": {"currency": p.currency, "value": str(p.refunded_amount)},
        "buyer": p.buyer_login_id,
        "merchantName": p.merchant_name,
        "orderDescription": p.order_description,
        "referenceOrderId": p.reference_order_id,
        "createdAt": iso(p.created_at),
        "paidAt": iso(p.paid_at) if p.paid_at else None,
        "cancelledAt": iso(p.cancelled_at) if p.cancelled_at else None,
        "expiresAt": iso(p.expires_at) if p.expires_at else None,
        "waitingForVerification": waiting_for_buyer(p),
        "verifyBy": iso(p.verify_by) if p.verify_by else None,
        "notifyUrl": p.notify_url,
    }


def refund_public(r: Refund) -> dict[str, Any]:
    return {
        "refundId": r.refund_id,
        "refundRequestId": r.refund_request_id,
        "paymentId": r.payment_id,
        "refundStatus": r.status,
        "resultCode": r.result_code,
        "resultMessage": r.result_message,
        "amount": {"currency": r.currency, "value": str(r.amount)},
        "createdAt": iso(r.created_at),
        "refundTime": iso(r.refund_time) if r.refund_time else None,
    }
