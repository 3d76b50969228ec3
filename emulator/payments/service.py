"""The gateway's payment actions and the buyer's side of them. No HTTP here.

- ``pay`` for the three in-store scenarios (spec §3.2-3.4), ``inquiry_payment``, ``cancel``;
- the wallet: ``wallet_scan`` (a buyer pays an order or entry code), ``wallet_confirm``;
- ``run_due``: expiries, verification timeouts and delayed completions on the emulator clock.

Idempotency (spec §4.8) rests on the unique ``(merchant, paymentRequestId)`` constraint:
concurrent identical pays race to insert, one wins, the others read the winner and replay it.
Every final state goes through ``_finish``, which also queues the notification (an outbox row
in the same transaction).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .. import ids
from ..clock import Clock, DueEvent, as_utc, business_day_end
from ..errors import (
    CancelWindowExceed,
    ControlError,
    CurrencyNotSupport,
    MerchantBalanceNotEnough,
    OrderIsCanceled,
    OrderIsClosed,
    OrderNotExist,
    OrderStatusInvalid,
    ParamIllegal,
    RepeatReqInconsistent,
    message_of,
)
from ..hotsql import AnyTx, Raw, Rows, Statement
from ..notifications.service import enqueue_payment
from ..notifications.urls import check_notify_url
from ..sandbox.access import Merchant
from ..sandbox.directory import BuyerInfo, Directory
from ..sandbox.fixtures import Triggers, TriggerSpec
from ..sandbox.ledger import InsufficientFunds, buyer_pays, merchant_returns
from ..settings import Settings
from ..storage import Database, SequenceBlocks
from ..wallet.models import PaymentCode
from ..wallet.service import display_customer_id, redeem_payment_code
from .models import OPEN, PAYMENT_DATETIMES, AnyPayment, Payment, PaymentRecord, PaymentStatus, PaymentView

SCANNED_SCENARIOS = ("OrderCode", "EntryCode")


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
    merchant_name: str | None = None
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


@dataclass(frozen=True, slots=True)
class PayOutcome:
    """The stored payment, and how this one answer deviates from it (sandbox triggers)."""

    payment: AnyPayment
    answer_code: str | None = None  # e.g. UNKNOWN_EXCEPTION for trigger 9901
    drop_connection: bool = False  # trigger 9902: commit, then never answer


# Raises a GatewayError to refuse a pay before anything is stored (the registration gate, #16).
Admission = Callable[[Merchant, PayCommand], None]


class PaymentService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: Settings,
        directory: Directory,
        sequences: SequenceBlocks,
        triggers: Triggers | None = None,
        admit: Admission | None = None,
    ) -> None:
        self._admit = admit
        self._sequences = sequences
        self._db = db
        self._clock = clock
        self._settings = settings
        self._directory = directory
        self._triggers = triggers or Triggers()

    # -- pay -------------------------------------------------------------------------------

    def pay(self, merchant: Merchant, cmd: PayCommand) -> PayOutcome:
        check_notify_url(
            "paymentNotifyUrl", cmd.notify_url, allow_link_local=self._settings.notify_allow_link_local
        )
        # All three pay pages mark paymentNotifyUrl REQUIRED; the application's Integration
        # Settings URL stands in for it, the request's URL wins (issue #12).
        notify_url = cmd.notify_url or merchant.notification_url
        if notify_url is None and not self._settings.notify_url_optional:
            raise ParamIllegal(
                "paymentNotifyUrl",
                "is required (or configure the application's notification URL)",
            )
        if notify_url != cmd.notify_url:
            cmd = replace(cmd, notify_url=notify_url)
        if self._admit is not None:
            self._admit(merchant, cmd)
        if cmd.currency != merchant.currency:
            raise CurrencyNotSupport(
                f"The application's test currency is {merchant.currency}, not {cmd.currency}."
            )
        try:
            # Optimistic: a retry is rare, so try to create and let the unique constraint on
            # (merchant, paymentRequestId) catch repeats (and concurrent duplicates) at INSERT.
            seq = self._sequences.next("payment")  # outside the transaction (it commits its own)
            return self._db.hot_transaction(lambda raw: self._create(raw, merchant, cmd, seq))
        except IntegrityError:
            # A repeat: everything this attempt did was rolled back; answer what is stored.
            with self._db.read() as session:
                existing = self._by_request_id(session, merchant, cmd.payment_request_id)
            if existing is None:
                raise
            return PayOutcome(self._replay(existing, cmd))

    def _create(self, raw: Raw, merchant: Merchant, cmd: PayCommand, seq: int) -> PayOutcome:
        now = self._clock.now()
        payment = PaymentRecord(
            payment_id=ids.payment_id(now, seq),
            merchant_customer_id=merchant.customer_id,
            client_id=merchant.client_id,
            payment_request_id=cmd.payment_request_id,
            scenario=cmd.scenario,
            currency=cmd.currency,
            amount=cmd.amount,
            payment_method_type=cmd.payment_method_type,
            payment_method_id=cmd.payment_method_id,
            fingerprint=cmd.fingerprint(),
            buyer_login_id=None,
            psp_customer_id=None,
            display_customer_id=None,
            status=PaymentStatus.PROCESSING,
            result_code="PAYMENT_IN_PROCESS",
            result_message=message_of("PAYMENT_IN_PROCESS"),
            created_at=now,
            notify_url=cmd.notify_url,
            reference_order_id=cmd.reference_order_id,
            order_description=cmd.order_description,
            merchant_name=cmd.merchant_name,
            reference_merchant_id=cmd.reference_merchant_id,
            reference_store_id=cmd.reference_store_id,
            agent_token=merchant.agent_token,
        )
        trigger = self._triggers.match(amount=cmd.amount, payment_code=cmd.payment_method_id)
        payment.trigger = trigger.action if trigger else None
        outcome = self._decide(raw, payment, cmd, trigger, now)
        # Inserted last, after the money moved: a concurrent identical request then fails on the
        # unique constraint and everything it did is rolled back (one plain INSERT, no ORM).
        raw.execute(_ROWS.insert, _ROWS.values(raw, payment))
        return outcome

    def _decide(
        self, tx: AnyTx, payment: AnyPayment, cmd: PayCommand, trigger: TriggerSpec | None, now: datetime
    ) -> PayOutcome:
        if trigger is not None and trigger.result is not None:
            self._finish(tx, payment, PaymentStatus.FAIL, trigger.result, now)
            return PayOutcome(payment)
        if cmd.scenario in SCANNED_SCENARIOS:
            # The code is generated now; the buyer pays later (spec §3.3, §3.4).
            payment.result_code, payment.result_message = "SUCCESS", message_of("SUCCESS")
            payment.expires_at = cmd.expires_at or now + timedelta(
                seconds=self._settings.order_code_ttl_seconds
            )
            payment.code_value = f"{self._settings.http_url()}/_emulator/wallet/c/{payment.payment_id}"
            answer = "UNKNOWN_EXCEPTION" if payment.trigger == "unknown_then_success" else None
            return PayOutcome(payment, answer_code=answer)
        outcome = redeem_payment_code(tx, code=cmd.payment_method_id or "", now=now)
        buyer = self._directory.buyer(outcome.buyer_login_id) if outcome.buyer_login_id else None
        if buyer is None:
            code = outcome.result_code if outcome.buyer_login_id is None else "USER_NOT_EXIST"
            self._finish(tx, payment, PaymentStatus.FAIL, code, now)
            return PayOutcome(payment)
        self._attach_buyer(payment, buyer)
        if payment.trigger == "unknown_then_success":
            # Answer U now; the payment completes a little later (spec §5 legacy 9901).
            payment.complete_at = now + timedelta(seconds=self._settings.trigger_completion_seconds)
            return PayOutcome(payment, answer_code="UNKNOWN_EXCEPTION")
        self._charge(tx, payment, buyer, now)
        return PayOutcome(payment, drop_connection=payment.trigger == "timeout_then_success")

    @staticmethod
    def _attach_buyer(payment: AnyPayment, buyer: BuyerInfo) -> None:
        payment.buyer_login_id = buyer.login_id
        payment.psp_customer_id = buyer.psp_customer_id
        payment.display_customer_id = display_customer_id(buyer.login_id)

    def _charge(
        self,
        tx: AnyTx,
        payment: AnyPayment,
        buyer: BuyerInfo,
        now: datetime,
        *,
        verified: bool = False,
    ) -> None:
        """Apply the buyer's behaviour (sandbox fixtures) and move the money."""
        if buyer.behaviour == "frozen":
            self._finish(tx, payment, PaymentStatus.FAIL, "USER_STATUS_ABNORMAL", now)
        elif buyer.behaviour == "risk_reject":
            self._finish(tx, payment, PaymentStatus.FAIL, "RISK_REJECT", now)
        elif buyer.behaviour == "needs_verification" and not verified:
            # Waits for the buyer's PIN/OTP: PROCESSING, answered PAYMENT_IN_PROCESS (U).
            payment.result_code = "PAYMENT_IN_PROCESS"
            payment.result_message = message_of("PAYMENT_IN_PROCESS")
            payment.verify_by = now + timedelta(seconds=self._settings.verification_timeout_seconds)
        else:
            try:
                buyer_pays(
                    tx,
                    buyer_login_id=buyer.login_id,
                    merchant_customer_id=payment.merchant_customer_id,
                    currency=payment.currency,
                    amount=payment.amount,
                )
            except InsufficientFunds:
                self._finish(tx, payment, PaymentStatus.FAIL, "USER_BALANCE_NOT_ENOUGH", now)
            else:
                self._finish(tx, payment, PaymentStatus.SUCCESS, "SUCCESS", now)

    def _finish(
        self, tx: AnyTx, payment: AnyPayment, status: PaymentStatus, code: str, now: datetime
    ) -> None:
        payment.move_to(status)
        payment.result_code = code
        payment.result_message = message_of(code)
        payment.paid_at = now
        payment.verify_by = None
        payment.complete_at = None
        enqueue_payment(tx, payment, now=now, notify_failures=self._settings.notify_failures)

    def _replay(self, existing: AnyPayment, cmd: PayCommand) -> AnyPayment:
        if existing.fingerprint != cmd.fingerprint():
            raise RepeatReqInconsistent(
                f"paymentRequestId {cmd.payment_request_id} was first used with other key parameters."
            )
        if existing.status == PaymentStatus.CANCELLED:
            raise OrderIsCanceled()
        if self.is_closed(existing):
            raise OrderIsClosed()
        return existing

    def is_closed(self, payment: PaymentView) -> bool:
        """An order or entry code that expired unpaid (spec §9 U8)."""
        if payment.status == PaymentStatus.FAIL and payment.result_code == "ORDER_IS_CLOSED":
            return True
        return (
            payment.status == PaymentStatus.PROCESSING
            and payment.buyer_login_id is None
            and payment.expires_at is not None
            and as_utc(payment.expires_at) <= self._clock.now()
        )

    # -- inquiry ---------------------------------------------------------------------------

    def inquiry_payment(
        self, merchant: Merchant, *, payment_id: str | None, payment_request_id: str | None
    ) -> PaymentRecord:
        # A plain record on the driver's connection, no ORM entity: hot path.
        if not payment_id and not payment_request_id:
            raise OrderNotExist()
        payment = self._db.hot_read(lambda raw: _hot_find(raw, merchant, payment_id, payment_request_id))
        if payment is None:
            raise OrderNotExist()
        return payment

    # -- cancel ----------------------------------------------------------------------------

    def cancel(
        self, merchant: Merchant, *, payment_id: str | None, payment_request_id: str | None
    ) -> PaymentRecord:
        def work(raw: Raw) -> PaymentRecord:
            payment = _hot_find(raw, merchant, payment_id, payment_request_id, lock=True)
            if payment is None:
                raise OrderNotExist()
            if payment.status == PaymentStatus.CANCELLED:
                return payment  # cancel is idempotent (spec §4.3, §4.8)
            if payment.refunded_amount > 0:
                raise OrderStatusInvalid("The payment has been refunded and can no longer be cancelled.")
            now = self._clock.now()
            if now > self.cancel_deadline(payment):
                raise CancelWindowExceed()
            if payment.status == PaymentStatus.SUCCESS and payment.buyer_login_id:
                try:
                    merchant_returns(
                        raw,
                        merchant_customer_id=payment.merchant_customer_id,
                        buyer_login_id=payment.buyer_login_id,
                        currency=payment.currency,
                        amount=payment.amount,
                    )
                except InsufficientFunds as exc:
                    raise MerchantBalanceNotEnough() from exc
            payment.move_to(PaymentStatus.CANCELLED)
            payment.cancelled_at = now
            payment.verify_by = None
            payment.complete_at = None
            params = {"p": payment.payment_id, "s": payment.status, "t": raw.ts(now)}
            raw.execute(_HOT_CANCEL, params)
            return payment

        return self._db.hot_transaction(work)

    def cancel_deadline(self, payment: AnyPayment) -> datetime:
        created = as_utc(payment.created_at)
        if self._settings.cancel_window_seconds is not None:
            return created + timedelta(seconds=self._settings.cancel_window_seconds)
        return business_day_end(created) + timedelta(minutes=self._settings.cancel_grace_minutes)

    # -- the buyer's wallet ----------------------------------------------------------------

    def wallet_scan(self, *, buyer_login_id: str, code_value: str) -> Payment:
        """A buyer scans an order code or opens an entry-code link and pays."""

        def work(session: Session) -> Payment:
            buyer = self._directory.buyer(buyer_login_id)
            if buyer is None:
                raise ControlError(404, f"no buyer with loginId {buyer_login_id!r}")
            payment = session.exec(
                select(Payment).where(Payment.code_value == code_value.strip()).with_for_update()
            ).first()
            if payment is None:
                raise ControlError(404, "unknown code: no order code or entry code has this value")
            now = self._clock.now()
            self._expire_if_due(session, payment, now)
            if payment.status != PaymentStatus.PROCESSING:
                raise ControlError(409, f"this code can no longer be paid: the payment is {payment.status}")
            if payment.buyer_login_id is not None:
                raise ControlError(
                    409, "this code was already scanned and waits for the buyer's verification"
                )
            self._attach_buyer(payment, buyer)
            self._charge(session, payment, buyer, now)
            session.add(payment)
            return payment

        return self._db.transaction(work)

    def wallet_confirm(self, *, buyer_login_id: str, payment_id: str, approve: bool) -> Payment:
        """The buyer approves (PIN/OTP) or declines a payment waiting for verification."""

        def work(session: Session) -> Payment:
            payment = session.exec(
                select(Payment).where(Payment.payment_id == payment_id).with_for_update()
            ).first()
            if payment is None:
                raise ControlError(404, f"no payment {payment_id!r}")
            if payment.buyer_login_id != buyer_login_id:
                raise ControlError(403, "this payment belongs to another buyer")
            now = self._clock.now()
            self._run_due_on(session, payment, now)
            if payment.status != PaymentStatus.PROCESSING or payment.verify_by is None:
                raise ControlError(409, f"nothing to confirm: the payment is {payment.status}")
            buyer = self._directory.buyer(buyer_login_id)
            assert buyer is not None
            if approve:
                self._charge(session, payment, buyer, now, verified=True)
            else:
                self._finish(session, payment, PaymentStatus.FAIL, "USER_PAYMENT_VERIFICATION_FAILED", now)
            return payment

        return self._db.transaction(work)

    def scannable_payment(self, payment_id: str) -> Payment | None:
        """An order- or entry-code payment by its id (the wallet page's address)."""
        with self._db.read() as session:
            return session.exec(
                select(Payment).where(Payment.payment_id == payment_id, col(Payment.code_value).is_not(None))
            ).first()

    # -- due work --------------------------------------------------------------------------

    def run_due(self, now: datetime) -> None:
        """Expire unpaid codes, time out verifications, complete delayed payments."""
        with self._db.read() as session:
            due = session.exec(
                select(Payment.payment_id).where(
                    text(OPEN),  # the partial index: only PROCESSING payments are read
                    (col(Payment.expires_at) <= now)
                    | (col(Payment.verify_by) <= now)
                    | (col(Payment.complete_at) <= now),
                )
            ).all()
        for payment_id in due:

            def work(session: Session, payment_id: str = payment_id) -> None:
                payment = session.exec(
                    select(Payment).where(Payment.payment_id == payment_id).with_for_update()
                ).first()
                if payment is not None:
                    self._run_due_on(session, payment, now)

            self._db.transaction(work)

    def _run_due_on(self, session: Session, payment: Payment, now: datetime) -> None:
        if payment.status != PaymentStatus.PROCESSING:
            return
        if payment.complete_at is not None and as_utc(payment.complete_at) <= now:
            buyer = self._directory.buyer(payment.buyer_login_id or "")
            if buyer is None:
                self._finish(session, payment, PaymentStatus.FAIL, "USER_NOT_EXIST", now)
            else:
                payment.complete_at = None
                self._charge(session, payment, buyer, now)
        elif payment.verify_by is not None and as_utc(payment.verify_by) <= now:
            self._finish(session, payment, PaymentStatus.FAIL, "USER_PAYMENT_VERIFICATION_FAILED", now)
        else:
            self._expire_if_due(session, payment, now)

    def _expire_if_due(self, session: Session, payment: Payment, now: datetime) -> None:
        if (
            payment.status == PaymentStatus.PROCESSING
            and payment.buyer_login_id is None
            and payment.expires_at is not None
            and as_utc(payment.expires_at) <= now
        ):
            self._finish(session, payment, PaymentStatus.FAIL, "ORDER_IS_CLOSED", as_utc(payment.expires_at))

    def next_events(self, now: datetime) -> list[DueEvent]:
        """The next payment-code expiry, order-code expiry, verification timeout, completion."""
        with self._db.read() as session:
            code = session.exec(
                select(func.min(PaymentCode.expires_at)).where(
                    col(PaymentCode.used_at).is_(None), col(PaymentCode.expires_at) > now
                )
            ).first()
            processing = text(OPEN)
            order = session.exec(
                select(func.min(Payment.expires_at)).where(
                    processing, col(Payment.buyer_login_id).is_(None), col(Payment.expires_at) > now
                )
            ).first()
            verify = session.exec(
                select(func.min(Payment.verify_by)).where(processing, col(Payment.verify_by) > now)
            ).first()
            complete = session.exec(
                select(func.min(Payment.complete_at)).where(processing, col(Payment.complete_at) > now)
            ).first()
        found = [
            (code, "payment code expiry", "an unused payment code expires"),
            (order, "order code expiry", "an unpaid order or entry code closes (ORDER_IS_CLOSED)"),
            (verify, "verification timeout", "a payment waiting for the buyer's PIN fails"),
            (complete, "delayed completion", "a payment answered UNKNOWN_EXCEPTION completes"),
        ]
        return [DueEvent(as_utc(at), kind, detail) for at, kind, detail in found if at is not None]

    # -- lookups ---------------------------------------------------------------------------

    @staticmethod
    def _by_request_id(session: Session, merchant: Merchant, request_id: str) -> Payment | None:
        params = {"m": merchant.customer_id, "r": request_id}
        return session.execute(_BY_REQUEST, params).scalars().first()


_BY_REQUEST = select(Payment).where(
    col(Payment.merchant_customer_id) == bindparam("m"), col(Payment.payment_request_id) == bindparam("r")
)

# The hot paths' statements (emulator.hotsql): every column, in PaymentRecord's order.
_TABLE = Payment.__table__.name  # type: ignore[attr-defined]
_ROWS = Rows(PaymentRecord, _TABLE, PAYMENT_DATETIMES)
_BY_ID_SQL = f"SELECT {_ROWS.columns} FROM {_TABLE} WHERE merchant_customer_id = :m AND payment_id = :p"
_BY_REQUEST_SQL = (
    f"SELECT {_ROWS.columns} FROM {_TABLE} WHERE merchant_customer_id = :m AND payment_request_id = :r"
)
_HOT_BY_ID = Statement(_BY_ID_SQL)
_HOT_BY_REQUEST = Statement(_BY_REQUEST_SQL)
_HOT_BY_ID_LOCKED = Statement(_BY_ID_SQL + "{lock}")
_HOT_BY_REQUEST_LOCKED = Statement(_BY_REQUEST_SQL + "{lock}")
_HOT_CANCEL = Statement(
    f"UPDATE {_TABLE} SET status = :s, cancelled_at = :t, verify_by = NULL, complete_at = NULL "
    "WHERE payment_id = :p"
)


def hot_payment(raw: Raw, merchant: Merchant, payment_id: str, *, lock: bool = False) -> PaymentRecord | None:
    """A payment of ``merchant`` by its id, on the hot path (refund locks it)."""
    return _hot_find(raw, merchant, payment_id, None, lock=lock)


def _hot_find(
    raw: Raw,
    merchant: Merchant,
    payment_id: str | None,
    payment_request_id: str | None,
    *,
    lock: bool = False,
) -> PaymentRecord | None:
    """A payment of ``merchant`` by id or request id (paymentId wins, spec §3.5, §3.6)."""
    if payment_id:
        row = raw.one(_HOT_BY_ID_LOCKED if lock else _HOT_BY_ID, {"m": merchant.customer_id, "p": payment_id})
    elif payment_request_id:
        stmt = _HOT_BY_REQUEST_LOCKED if lock else _HOT_BY_REQUEST
        row = raw.one(stmt, {"m": merchant.customer_id, "r": payment_request_id})
    else:
        return None
    return None if row is None else _ROWS.record(raw, row)
