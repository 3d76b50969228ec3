"""The gateway's registration actions, the review on the emulator clock, and the payment gate. No HTTP.

- ``registration`` (spec §4.7): idempotent on ``registrationRequestId`` per application;
  ``REGISTRATION_UNDER_REVIEW`` while the same merchant/store waits, ``REPEAT_REGISTRATION`` once
  approved (a rejected one may register again);
- ``inquiry_registration_status`` / ``inquiry_registration_info``: ``RECORD_NOT_FOUND`` when none;
- ``run_due``: a pending review ends after ``registration_review_seconds`` with the outcome the
  fixture table (``[[registration_outcomes]]``) or a control call chose, and queues
  notifyRegistrationStatus in the same transaction (the shared outbox);
- ``admit_payment``: with ``registration_required``, pay from an acquirer or ISV application needs
  an approved registration of its ``referenceMerchantId`` (merchant-level or for that store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .. import ids
from ..clock import Clock, as_utc, iso
from ..errors import (
    AccessDenied,
    ControlError,
    MerchantNotRegistered,
    RecordNotFound,
    RegistrationUnderReview,
    RepeatRegistration,
    RepeatReqInconsistent,
)
from ..notifications.service import enqueue_registration
from ..sandbox.access import Merchant
from ..sandbox.directory import Directory
from ..sandbox.fixtures import RegistrationOutcomeSpec
from ..settings import Settings
from ..storage import Database, next_sequence
from .models import Registration, RegistrationStatus

# Roles that register merchants other than themselves (the Developer Center's three roles).
REGISTERING_ROLES = ("ACQUIRER", "ISV")


class PayReferences(Protocol):
    """What the payment gate reads of a pay (``PayCommand`` has these)."""

    @property
    def reference_merchant_id(self) -> str | None: ...
    @property
    def reference_store_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RegistrationCommand:
    registration_request_id: str
    product_codes: tuple[str, ...]
    reference_merchant_id: str
    merchant_info: dict[str, Any]
    merchant_names: tuple[str, ...] = ()
    reference_store_id: str | None = None
    store_name: str | None = None
    store_info: dict[str, Any] | None = None
    notify_url: str | None = None
    pass_through_info: str | None = None

    def fingerprint(self) -> str:
        # The key parameters whose change makes a retry inconsistent (spec §4.8): what is
        # registered, not where the result is sent.
        return json.dumps([sorted(self.product_codes), self.merchant_info, self.store_info], sort_keys=True)


class RegistrationService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: Settings,
        directory: Directory,
        outcomes: tuple[RegistrationOutcomeSpec, ...] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._directory = directory
        self._outcomes = outcomes

    @property
    def psps(self) -> tuple[str, ...]:
        return self._settings.registration_psp_names

    # -- registration ----------------------------------------------------------------------

    def registration(self, merchant: Merchant, cmd: RegistrationCommand) -> Registration:
        app = self._directory.application(merchant.client_id)
        if app is None or app.role not in REGISTERING_ROLES:
            raise AccessDenied(diagnosis="merchant registration is for acquirer and ISV applications")
        try:
            with self._db.write() as session:
                return self._create(session, merchant, cmd)
        except IntegrityError:
            # A concurrent identical request won the insert: answer what is stored.
            with self._db.read() as session:
                existing = self._by_request_id(session, merchant.client_id, cmd.registration_request_id)
            if existing is None:
                raise
            return self._replay(existing, cmd)

    def _create(self, session: Session, merchant: Merchant, cmd: RegistrationCommand) -> Registration:
        existing = self._by_request_id(session, merchant.client_id, cmd.registration_request_id)
        if existing is not None:
            return self._replay(existing, cmd)
        for other in self._same_subject(session, merchant.client_id, cmd):
            if other.status == RegistrationStatus.PENDING:
                raise RegistrationUnderReview(
                    diagnosis=f"registration {other.registration_request_id} of this merchant/store is under review"
                )
            if other.status == RegistrationStatus.APPROVED:
                raise RepeatRegistration(
                    diagnosis=f"registration {other.registration_request_id} already approved this merchant/store"
                )
        now = self._clock.now()
        seq = next_sequence(session, "registration")
        rule = self._outcome_for(cmd)
        r = Registration(
            registration_id=ids.registration_id(now, seq),
            client_id=merchant.client_id,
            merchant_customer_id=merchant.customer_id,
            agent_token=merchant.agent_token,
            registration_request_id=cmd.registration_request_id,
            reference_merchant_id=cmd.reference_merchant_id,
            reference_store_id=cmd.reference_store_id,
            merchant_name=next(iter(cmd.merchant_names), None),
            store_name=cmd.store_name,
            product_codes=",".join(cmd.product_codes),
            notify_url=cmd.notify_url or merchant.notification_url,
            merchant_info=json.dumps(cmd.merchant_info, ensure_ascii=False),
            store_info=json.dumps(cmd.store_info, ensure_ascii=False) if cmd.store_info is not None else None,
            pass_through_info=cmd.pass_through_info,
            fingerprint=cmd.fingerprint(),
            status=RegistrationStatus.PENDING,
            outcome=rule.outcome if rule else RegistrationStatus.APPROVED,
            reason=rule.reason if rule else None,
            chosen_by="fixtures" if rule else "default",
            created_at=now,
            review_due_at=now + timedelta(seconds=self._settings.registration_review_seconds),
        )
        session.add(r)
        session.flush()
        return r

    def _outcome_for(self, cmd: RegistrationCommand) -> RegistrationOutcomeSpec | None:
        return next(
            (
                rule
                for rule in self._outcomes
                if rule.matches(
                    reference_merchant_id=cmd.reference_merchant_id,
                    reference_store_id=cmd.reference_store_id,
                    merchant_names=cmd.merchant_names,
                    store_name=cmd.store_name,
                )
            ),
            None,
        )

    @staticmethod
    def _replay(existing: Registration, cmd: RegistrationCommand) -> Registration:
        if existing.fingerprint != cmd.fingerprint():
            raise RepeatReqInconsistent(
                f"registrationRequestId {cmd.registration_request_id} was first used with other key parameters."
            )
        return existing

    @staticmethod
    def _same_subject(session: Session, client_id: str, cmd: RegistrationCommand) -> list[Registration]:
        query = select(Registration).where(
            Registration.client_id == client_id,
            Registration.reference_merchant_id == cmd.reference_merchant_id,
        )
        rows = session.exec(query).all()
        return [r for r in rows if r.reference_store_id == cmd.reference_store_id]

    @staticmethod
    def _by_request_id(session: Session, client_id: str, request_id: str) -> Registration | None:
        return session.exec(
            select(Registration).where(
                Registration.client_id == client_id, Registration.registration_request_id == request_id
            )
        ).first()

    # -- inquiries -------------------------------------------------------------------------

    def inquiry_registration(
        self,
        merchant: Merchant,
        *,
        registration_request_id: str | None,
        reference_merchant_id: str | None,
        reference_store_id: str | None,
    ) -> Registration:
        """The registration a status or info inquiry names: by request ID first, else the newest
        one of the merchant (and store, when given)."""
        with self._db.read() as session:
            if registration_request_id:
                found = self._by_request_id(session, merchant.client_id, registration_request_id)
                if (
                    found is None
                    or (
                        reference_merchant_id is not None
                        and found.reference_merchant_id != reference_merchant_id
                    )
                    or (reference_store_id is not None and found.reference_store_id != reference_store_id)
                ):
                    raise RecordNotFound()
                return found
            query = select(Registration).where(Registration.client_id == merchant.client_id)
            if reference_merchant_id is not None:
                query = query.where(Registration.reference_merchant_id == reference_merchant_id)
            if reference_store_id is not None:
                query = query.where(Registration.reference_store_id == reference_store_id)
            newest = session.exec(
                query.order_by(col(Registration.created_at).desc(), col(Registration.registration_id).desc())
            ).first()
        if newest is None:
            raise RecordNotFound()
        return newest

    # -- the review ------------------------------------------------------------------------

    def run_due(self, now: datetime) -> int:
        """End every review due by ``now``; returns how many ended."""
        with self._db.read() as session:
            due = session.exec(
                select(Registration.registration_id).where(
                    Registration.status == RegistrationStatus.PENDING,
                    col(Registration.review_due_at) <= now,
                )
            ).all()
        for registration_id in due:
            with self._db.write() as session:
                r = self._locked(session, registration_id)
                if r is not None and r.status == RegistrationStatus.PENDING:
                    self._finish(session, r, RegistrationStatus(r.outcome), r.reason, now)
        return len(due)

    def decide(
        self, registration_id: str, *, outcome: str, reason: str | None, immediately: bool = True
    ) -> Registration:
        """Choose how a pending review ends (control API): now, or when its review time is up."""
        try:
            status = RegistrationStatus(outcome)
        except ValueError as exc:
            raise ControlError(422, "outcome must be APPROVED or REJECTED") from exc
        if status == RegistrationStatus.PENDING:
            raise ControlError(422, "outcome must be APPROVED or REJECTED")
        if status == RegistrationStatus.REJECTED and not reason:
            raise ControlError(422, "reason is required for a REJECTED outcome")
        if status == RegistrationStatus.APPROVED:
            reason = None
        with self._db.write() as session:
            r = self._locked(session, registration_id)
            if r is None:
                raise ControlError(404, f"no registration {registration_id!r}")
            if r.status != RegistrationStatus.PENDING:
                raise ControlError(409, f"the review of {registration_id} has already ended: {r.status}")
            r.outcome, r.reason, r.chosen_by = status, reason, "control"
            if immediately:
                self._finish(session, r, status, reason, self._clock.now())
            session.add(r)
            return r

    def _finish(
        self, session: Session, r: Registration, status: RegistrationStatus, reason: str | None, now: datetime
    ) -> None:
        r.move_to(status)
        r.reason = reason if status == RegistrationStatus.REJECTED else None
        r.decided_at = now
        session.add(r)
        session.flush()
        r.notification_id = enqueue_registration(session, r, now=now, psps=self.psps)
        session.add(r)

    @staticmethod
    def _locked(session: Session, registration_id: str) -> Registration | None:
        return session.exec(
            select(Registration).where(Registration.registration_id == registration_id).with_for_update()
        ).first()

    # -- the payment gate ------------------------------------------------------------------

    def admit_pay(self, merchant: Merchant, cmd: PayReferences) -> None:
        """``PaymentService``'s admission hook when ``registration_required`` is on."""
        self.admit_payment(
            merchant,
            reference_merchant_id=cmd.reference_merchant_id,
            reference_store_id=cmd.reference_store_id,
        )

    def admit_payment(
        self, merchant: Merchant, *, reference_merchant_id: str | None, reference_store_id: str | None
    ) -> None:
        """Raise MERCHANT_NOT_REGISTERED unless the merchant (or that store) is approved."""
        app = self._directory.application(merchant.client_id)
        if app is None or app.role not in REGISTERING_ROLES:
            return
        with self._db.read() as session:
            approved = session.exec(
                select(Registration.reference_store_id).where(
                    Registration.client_id == merchant.client_id,
                    Registration.reference_merchant_id == (reference_merchant_id or ""),
                    Registration.status == RegistrationStatus.APPROVED,
                )
            ).all()
        if not any(store is None or store == reference_store_id for store in approved):
            raise MerchantNotRegistered(
                diagnosis=(
                    f"referenceMerchantId {reference_merchant_id!r} / referenceStoreId "
                    f"{reference_store_id!r} has no approved registration (registration_required is on)"
                )
            )

    # -- views -----------------------------------------------------------------------------

    def list(
        self, *, client_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Registration]:
        with self._db.read() as session:
            query = select(Registration)
            if client_id:
                query = query.where(Registration.client_id == client_id)
            if status:
                query = query.where(Registration.status == status)
            return list(
                session.exec(
                    query.order_by(
                        col(Registration.created_at).desc(), col(Registration.registration_id).desc()
                    ).limit(limit)
                ).all()
            )

    def get(self, registration_id: str) -> Registration:
        with self._db.read() as session:
            r = session.get(Registration, registration_id)
        if r is None:
            raise ControlError(404, f"no registration {registration_id!r}")
        return r


def registered_view(r: Registration) -> dict[str, Any]:
    """An approved merchant or store, as the sandbox resources list it."""
    return {
        "clientId": r.client_id,
        "registrationId": r.registration_id,
        "referenceMerchantId": r.reference_merchant_id,
        "referenceStoreId": r.reference_store_id,
        "merchantName": r.merchant_name,
        "storeName": r.store_name,
        "productCodes": r.product_codes.split(",") if r.product_codes else [],
        "approvedAt": iso(as_utc(r.decided_at)) if r.decided_at else None,
    }


def registration_view(r: Registration) -> dict[str, Any]:
    """A registration as the control API and the sandbox resources show it (camelCase)."""
    return {
        "registrationId": r.registration_id,
        "clientId": r.client_id,
        "merchantCustomerId": r.merchant_customer_id,
        "registrationRequestId": r.registration_request_id,
        "referenceMerchantId": r.reference_merchant_id,
        "referenceStoreId": r.reference_store_id,
        "merchantName": r.merchant_name,
        "storeName": r.store_name,
        "productCodes": r.product_codes.split(",") if r.product_codes else [],
        "status": r.status,
        "outcome": r.outcome,
        "reason": r.reason,
        "chosenBy": r.chosen_by,
        "createdAt": iso(r.created_at),
        "reviewDueAt": iso(as_utc(r.review_due_at)),
        "decidedAt": iso(as_utc(r.decided_at)) if r.decided_at else None,
        "notifyUrl": r.notify_url,
        "notificationId": r.notification_id,
        "merchantInfo": json.loads(r.merchant_info),
        "storeInfo": json.loads(r.store_info) if r.store_info else None,
    }
