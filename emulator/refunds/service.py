"""The gateway's refund actions: refund and inquiry_refund. No HTTP here.

Only a successful refund is stored (and replayed to a retry with the same ``refundRequestId``,
spec §4.8). A refused one (``REFUND_AMOUNT_EXCEED``, ``CURRENCY_NOT_SUPPORT``, ...) raises its
``GatewayError`` and rolls back: it was never created, so inquiryRefund answers
``ORDER_NOT_EXIST`` (spec §4.5) and inquiryPayment does not list it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .. import ids
from ..clock import Clock, as_utc
from ..errors import (
    CurrencyNotSupport,
    GatewayError,
    MerchantBalanceNotEnough,
    OrderIsCanceled,
    OrderNotExist,
    OrderStatusInvalid,
    RefundAmountExceed,
    RefundWindowExceed,
    RepeatReqInconsistent,
    message_of,
)
from ..hotsql import Raw, Rows, Statement
from ..notifications.service import enqueue_refund
from ..notifications.urls import check_notify_url
from ..payments.models import Payment, PaymentRecord, PaymentStatus
from ..payments.service import hot_payment
from ..sandbox.access import Merchant
from ..sandbox.ledger import InsufficientFunds, merchant_returns
from ..settings import Settings
from ..storage import Database, next_sequence
from .models import REFUND_DATETIMES, AnyRefund, Refund, RefundRecord, RefundStatus


@dataclass(frozen=True, slots=True)
class RefundCommand:
    refund_request_id: str
    payment_id: str
    currency: str
    amount: int
    reason: str | None = None
    reference_refund_id: str | None = None
    notify_url: str | None = None


class RefundService:
    def __init__(self, *, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    def refund(self, merchant: Merchant, cmd: RefundCommand) -> AnyRefund:
        check_notify_url(
            "refundNotifyUrl", cmd.notify_url, allow_link_local=self._settings.notify_allow_link_local
        )
        try:

            def work(raw: Raw) -> AnyRefund:
                row = raw.one(_HOT_BY_REQUEST, {"m": merchant.customer_id, "r": cmd.refund_request_id})
                if row is not None:
                    return self._replay(_ROWS.record(raw, row), cmd)
                payment = hot_payment(raw, merchant, cmd.payment_id, lock=True)
                if payment is None:
                    raise OrderNotExist()
                return self._create(raw, payment, merchant, cmd)

            return self._db.hot_transaction(work)
        except IntegrityError:
            with self._db.read() as session:
                existing = self._by_request_id(session, merchant, cmd.refund_request_id)
            if existing is None:
                raise
            return self._replay(existing, cmd)

    def _create(
        self, raw: Raw, payment: PaymentRecord, merchant: Merchant, cmd: RefundCommand
    ) -> RefundRecord:
        now = self._clock.now()
        refusal = self._decide(raw, payment, cmd, now)
        if refusal is not None:
            raise refusal  # rolls back: nothing of this refund is stored
        refund = RefundRecord(
            refund_id=ids.refund_id(now, next_sequence(raw, "refund")),
            payment_id=payment.payment_id,
            merchant_customer_id=merchant.customer_id,
            client_id=merchant.client_id,
            refund_request_id=cmd.refund_request_id,
            currency=cmd.currency,
            amount=cmd.amount,
            status=RefundStatus.SUCCESS,
            result_code="SUCCESS",
            result_message=message_of("SUCCESS"),
            created_at=now,
            refund_time=now,
            reason=cmd.reason,
            reference_refund_id=cmd.reference_refund_id,
            notify_url=cmd.notify_url,
        )
        payment.refund_count += 1
        payment.refunded_amount += cmd.amount
        raw.execute(_ROWS.insert, _ROWS.values(raw, refund))
        raw.execute(_HOT_REFUNDED, {"p": payment.payment_id, "a": cmd.amount})
        enqueue_refund(raw, refund, payment, now=now)
        return refund

    def _decide(
        self, raw: Raw, payment: PaymentRecord, cmd: RefundCommand, now: datetime
    ) -> GatewayError | None:
        """Why this refund is refused, or None after moving the money (spec §4.4, §4.9)."""
        if payment.status == PaymentStatus.CANCELLED:
            return OrderIsCanceled()
        if payment.status != PaymentStatus.SUCCESS or payment.paid_at is None:
            return OrderStatusInvalid()
        if cmd.currency != payment.currency:
            return CurrencyNotSupport()
        if payment.refunded_amount + cmd.amount > payment.amount:
            return RefundAmountExceed()
        if now > as_utc(payment.paid_at) + timedelta(days=self._settings.refund_window_days):
            return RefundWindowExceed()
        if payment.buyer_login_id is None:
            return OrderStatusInvalid()
        try:
            merchant_returns(
                raw,
                merchant_customer_id=payment.merchant_customer_id,
                buyer_login_id=payment.buyer_login_id,
                currency=cmd.currency,
                amount=cmd.amount,
            )
        except InsufficientFunds:
            return MerchantBalanceNotEnough()
        return None

    @staticmethod
    def _replay(existing: AnyRefund, cmd: RefundCommand) -> AnyRefund:
        if (existing.payment_id, existing.currency, existing.amount) != (
            cmd.payment_id,
            cmd.currency,
            cmd.amount,
        ):
            raise RepeatReqInconsistent(
                f"refundRequestId {cmd.refund_request_id} was first used with other parameters."
            )
        return existing

    def inquiry_refund(
        self, merchant: Merchant, *, refund_id: str | None, refund_request_id: str | None
    ) -> Refund:
        with self._db.read() as session:
            query = select(Refund).where(Refund.merchant_customer_id == merchant.customer_id)
            # refundId wins when both are given (spec §3.8).
            if refund_id:
                query = query.where(Refund.refund_id == refund_id)
            elif refund_request_id:
                query = query.where(Refund.refund_request_id == refund_request_id)
            else:
                raise OrderNotExist()
            refund = session.exec(query).first()
        if refund is None:
            raise OrderNotExist()
        return refund

    def refunds_of(self, payment_id: str) -> list[Refund]:
        with self._db.read() as session:
            return list(
                session.exec(
                    select(Refund)
                    .where(Refund.payment_id == payment_id)
                    .order_by(col(Refund.created_at), col(Refund.refund_id))
                ).all()
            )

    @staticmethod
    def _by_request_id(session: Session, merchant: Merchant, request_id: str) -> Refund | None:
        return session.exec(
            select(Refund).where(
                Refund.merchant_customer_id == merchant.customer_id,
                Refund.refund_request_id == request_id,
            )
        ).first()


# The hot path's statements (emulator.hotsql): every column, in RefundRecord's order.
_TABLE = Refund.__table__.name  # type: ignore[attr-defined]
_ROWS = Rows(RefundRecord, _TABLE, REFUND_DATETIMES)
_HOT_BY_REQUEST = Statement(
    f"SELECT {_ROWS.columns} FROM {_TABLE} WHERE merchant_customer_id = :m AND refund_request_id = :r"
)
_HOT_REFUNDED = Statement(
    f"UPDATE {Payment.__table__.name} "  # type: ignore[attr-defined]
    "SET refund_count = refund_count + 1, refunded_amount = refunded_amount + :a WHERE payment_id = :p"
)
