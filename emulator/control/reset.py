"""Reset one application's data without disturbing the others (parallel test workers)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from ..notifications.models import DeliveryAttempt, Notification
from ..payments.models import Payment, PaymentStatus
from ..refunds.models import Refund
from ..registrations.models import Registration
from ..sandbox.fixtures import SandboxDefinition
from ..sandbox.ledger import merchant_returns
from ..sandbox.models import AgentToken, MerchantKey
from ..sandbox.service import require_application
from ..signing import public_key_b64


def reset_application(session: Session, definition: SandboxDefinition, client_id: str) -> int:
    """Undo the application's payments (money back to the buyers), delete its records (registrations too).

    Returns how many payments were removed. Keys and ISV tokens go back to their seeded state.
    """
    require_application(session, client_id)
    payments = session.exec(
        select(Payment)
        .where(Payment.client_id == client_id)
        .order_by(col(Payment.payment_id))  # one lock order, like every other locker of payments
        .with_for_update()
    ).all()
    for p in payments:
        kept = p.amount - p.refunded_amount
        if p.status == PaymentStatus.SUCCESS and p.buyer_login_id and kept > 0:
            # Funds only ever come from these payments, so the merchant can always give back.
            merchant_returns(
                session,
                merchant_customer_id=p.merchant_customer_id,
                buyer_login_id=p.buyer_login_id,
                currency=p.currency,
                amount=kept,
            )
    ids = [p.payment_id for p in payments]
    notes = session.exec(select(Notification.id).where(Notification.client_id == client_id)).all()
    if notes:
        session.execute(delete(DeliveryAttempt).where(col(DeliveryAttempt.notification_id).in_(notes)))
        session.execute(delete(Notification).where(col(Notification.id).in_(notes)))
    if ids:
        session.execute(delete(Refund).where(col(Refund.payment_id).in_(ids)))
        session.execute(delete(Payment).where(col(Payment.payment_id).in_(ids)))
    session.execute(delete(Registration).where(col(Registration.client_id) == client_id))
    session.execute(delete(MerchantKey).where(col(MerchantKey.client_id) == client_id))
    seed = next((a for a in definition.applications if a.client_id == client_id), None)
    if seed is not None:
        session.add(
            MerchantKey(
                client_id=client_id,
                key_version="1",
                public_key=public_key_b64(seed.private_key.public_key()),
            )
        )
        tokens = session.exec(select(AgentToken).where(AgentToken.isv_client_id == client_id)).all()
        for t in tokens:
            if t.token == seed.test_token:
                t.revoked_at = None
                session.add(t)
            else:
                session.delete(t)
    return len(ids)
