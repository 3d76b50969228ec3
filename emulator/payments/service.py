"""The gateway's payment actions: pay, inquiry_payment, cancel. No HTTP here.

Idempotency (spec §4.8) rests on the unique ``(merchant, paymentRequestId)`` constraint:
concurrent identical pays race to insert, one wins, the others read the winner and replay it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from .. import ids
from ..clock import Clock, as_utc, business_day_end
from ..errors import (
    CancelWindowExceed,
    CurrencyNotSupport,
    MerchantBalanceNotEnough,
    OrderIsCanceled,
    OrderIsClosed,
    OrderNotExist,
    OrderStatusInvalid,
    RepeatReqInconsistent,
    message_of,
)
from ..sandbox.access import Merchant
from ..sandbox.ledger import InsufficientFunds, transfer
from ..sandbox.models import Buyer, buyer_owner, merchant_owner
from ..settings import Settings
from ..storage import Database, next_sequence
from ..wallet.service import display_customer_id, redeem_payment_code
from .models import Payment, PaymentStatus


@dataclass(frozen=True, slots=True)
class PayCommand:
    payment_request_id: str
    scenario: str
    currency: str
    amount: int
    payment_method_type: str
    payment_method_id: str | None
    notify_url: str | None = None
    expires_at: datetime | None = None
    reference_order_id: str | None = None
    order_description: str | None = None
    reference_merchant_id: str | None = None
    reference_store_id: str | None = None

    def fingerprint(self) -> str:
        # The key parameters whose change makes a retry inconsistent (spec §4.8).
        return json.dumps(
            [
                self.currency,
                self.amount,
                self.payment_method_type,
                self.payment_method_id,
                self.scenario,
            ]
        )


class PaymentService:
    def __init__(self, *, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    # -- pay -------------------------------------------------------------------------------

    def pay(self, merchant: Merchant, cmd: PayCommand) -> Payment:
        if cmd.currency != merchant.currency:
            raise CurrencyNotSupport(
                f"The application's test currency is {merchant.currency}, not {cmd.currency}."
            )
        try:
            with self._db.write() as session:
                existing = self._by_request_id(session, merchant, cmd.payment_request_id)
                if existing is not None:
                    return self._replay(existing, cmd)
                payment = self._create(session, merchant, cmd)
                session.flush()
                return payment
        except IntegrityError:
            # Lost the race to an identical request: answer what the winner stored.
            with self._db.read() as session:
                existing = self._by_request_id(session, merchant, cmd.payment_request_id)
            if existing is None:
                raise
            return self._replay(existing, cmd)

    def _create(self, session: Session, merchant: Merchant, cmd: PayCommand) -> Payment:
        now = self._clock.now()
        payment = Payment(
            payment_id=ids.payment_id(now, next_sequence(session, "payment")),
            merchant_customer_id=merchant.customer_id,
            client_id=merchant.client_id,
            payment_request_id=cmd.payment_request_id,
            scenario=cmd.scenario,
            currency=cmd.currency,
            amount=cmd.amount,
            payment_method_type=cmd.payment_method_type,
            payment_method_id=cmd.payment_method_id,
            fingerprint=cmd.fingerprint(),
            status=PaymentStatus.PROCESSING,
            result_code="PAYMENT_IN_PROCESS",
            result_message=message_of("PAYMENT_IN_PROCESS"),
            created_at=now,
            expires_at=cmd.expires_at,
            notify_url=cmd.notify_url,
            reference_order_id=cmd.reference_order_id,
            order_description=cmd.order_description,
            reference_merchant_id=cmd.reference_merchant_id,
            reference_store_id=cmd.reference_store_id,
            agent_token=merchant.agent_token,
        )
        session.add(payment)
        # Insert first: a concurrent identical request fails here, before touching any money.
        session.flush()
        outcome = redeem_payment_code(session, code=cmd.payment_method_id or "", now=now)
        if outcome.buyer is None:
            self._finish(payment, PaymentStatus.FAIL, outcome.result_code, now)
        else:
            self._charge(session, payment, outcome.buyer, now)
        session.add(payment)
        return payment

    def _charge(self, session: Session, payment: Payment, buyer: Buyer, now: datetime) -> None:
        """Apply the buyer's behaviour (sandbox fixtures) and move the money."""
        payment.buyer_login_id = buyer.login_id
        payment.psp_customer_id = buyer.psp_customer_id
        payment.display_customer_id = display_customer_id(buyer.login_id)
        if buyer.behaviour == "frozen":
            self._finish(payment, PaymentStatus.FAIL, "USER_STATUS_ABNORMAL", now)
        elif buyer.behaviour == "risk_reject":
            self._finish(payment, PaymentStatus.FAIL, "RISK_REJECT", now)
        elif buyer.behaviour == "needs_verification":
            # Waits for the buyer's PIN/OTP: stays PROCESSING and answers PAYMENT_IN_PROCESS (U).
            payment.result_code = "PAYMENT_IN_PROCESS"
            payment.result_message = message_of("PAYMENT_IN_PROCESS")
        else:
            try:
                transfer(
                    session,
                    source=buyer_owner(buyer.login_id),
                    target=merchant_owner(payment.merchant_customer_id),
                    currency=payment.currency,
                    amount=payment.amount,
                )
            except InsufficientFunds:
                self._finish(payment, PaymentStatus.FAIL, "USER_BALANCE_NOT_ENOUGH", now)
            else:
                self._finish(payment, PaymentStatus.SUCCESS, "SUCCESS", now)

    @staticmethod
    def _finish(payment: Payment, status: PaymentStatus, code: str, now: datetime) -> None:
        payment.move_to(status)
        payment.result_code = code
        payment.result_message = message_of(code)
        payment.paid_at = now

    def _replay(self, existing: Payment, cmd: PayCommand) -> Payment:
        if existing.fingerprint != cmd.fingerprint():
            raise RepeatReqInconsistent(
                f"paymentRequestId {cmd.payment_request_id} was first used with other key parameters."
            )
        if existing.status == PaymentStatus.CANCELLED:
            raise OrderIsCanceled()
        if self.is_closed(existing):
            raise OrderIsClosed()
        return existing

    def is_closed(self, payment: Payment) -> bool:
        """An unpaid order whose expiry passed (spec §9 U8)."""
        return (
            payment.status == PaymentStatus.PROCESSING
            and payment.expires_at is not None
            and as_utc(payment.expires_at) <= self._clock.now()
        )

    # -- inquiry ---------------------------------------------------------------------------

    def inquiry_payment(
        self, merchant: Merchant, *, payment_id: str | None, payment_request_id: str | None
    ) -> Payment:
        with self._db.read() as session:
            payment = self._find(session, merchant, payment_id, payment_request_id)
        if payment is None:
            raise OrderNotExist()
        return payment

    # -- cancel ----------------------------------------------------------------------------

    def cancel(
        self, merchant: Merchant, *, payment_id: str | None, payment_request_id: str | None
    ) -> Payment:
        with self._db.write() as session:
            payment = self._find(session, merchant, payment_id, payment_request_id, lock=True)
            if payment is None:
                raise OrderNotExist()
            if payment.status == PaymentStatus.CANCELLED:
                return payment  # cancel is idempotent (spec §4.3, §4.8)
            if payment.refunded_amount > 0:
                raise OrderStatusInvalid(
                    "The payment has been refunded and can no longer be cancelled."
                )
            now = self._clock.now()
            if now > self.cancel_deadline(payment):
                raise CancelWindowExceed()
            if payment.status == PaymentStatus.SUCCESS and payment.buyer_login_id:
                try:
                    transfer(
                        session,
                        source=merchant_owner(payment.merchant_customer_id),
                        target=buyer_owner(payment.buyer_login_id),
                        currency=payment.currency,
                        amount=payment.amount,
                    )
                except InsufficientFunds as exc:
                    raise MerchantBalanceNotEnough() from exc
            payment.move_to(PaymentStatus.CANCELLED)
            payment.cancelled_at = now
            session.add(payment)
            return payment

    def cancel_deadline(self, payment: Payment) -> datetime:
        created = as_utc(payment.created_at)
        if self._settings.cancel_window_seconds is not None:
            return created + timedelta(seconds=self._settings.cancel_window_seconds)
        return business_day_end(created) + timedelta(minutes=self._settings.cancel_grace_minutes)

    # -- lookups ---------------------------------------------------------------------------

    @staticmethod
    def _by_request_id(session: Session, merchant: Merchant, request_id: str) -> Payment | None:
        return session.exec(
            select(Payment).where(
                Payment.merchant_customer_id == merchant.customer_id,
                Payment.payment_request_id == request_id,
            )
        ).first()

    @staticmethod
    def _find(
        session: Session,
        merchant: Merchant,
        payment_id: str | None,
        payment_request_id: str | None,
        *,
        lock: bool = False,
    ) -> Payment | None:
        # paymentId wins when both are given (spec §3.5, §3.6).
        query = select(Payment).where(Payment.merchant_customer_id == merchant.customer_id)
        if payment_id:
            query = query.where(Payment.payment_id == payment_id)
        elif payment_request_id:
            query = query.where(Payment.payment_request_id == payment_request_id)
        else:
            return None
        if lock:
            query = query.with_for_update()
        return session.exec(query).first()
