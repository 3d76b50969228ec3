"""Build, enqueue and deliver notifications; no FastAPI here.

Enqueued in the same transaction as the state change (an outbox), delivered by ``deliver_due``
(a due-work hook) on the emulator's clock, retried on the schedule of spec §1.4. The HTTP client
is injectable (``httpx.MockTransport`` in unit tests).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func
from sqlmodel import Session, col, select

from .. import ids
from ..amounts import amount_dict
from ..clock import Clock, DueEvent, as_utc, iso
from ..errors import ControlError, message_of, status_of
from ..hotsql import AnyTx, Statement, raw_of
from ..payments.models import AnyPayment
from ..refunds.models import AnyRefund
from ..registrations.models import Registration, status_fields
from ..sandbox.models import Application
from ..settings import Settings
from ..signing import canonical_message, sign, signature_header
from ..storage import Database, next_sequence
from .models import RETRY_DELAYS_SECONDS, DeliveryAttempt, Notification, NotificationStatus

LEASE_SECONDS = 120
log = logging.getLogger("emulator")
# One claim takes at most CLAIM_BATCH notifications; one ``deliver_due`` goes on claiming until
# nothing is due or MAX_DELIVERIES_PER_RUN were sent (so a clock jump over a large backlog
# delivers it all before the clock call returns, up to that bound; the rest on the next ticks).
CLAIM_BATCH = 64
MAX_DELIVERIES_PER_RUN = 10_000


def _result(code: str, message: str | None = None) -> dict[str, str]:
    return {
        "resultCode": code,
        "resultStatus": status_of(code),
        "resultMessage": message or message_of(code),
    }


def payment_body(p: AnyPayment) -> dict[str, Any]:
    """notifyPayment (spec §1.4, Appendix B)."""
    ok = p.result_code == "SUCCESS" and p.status == "SUCCESS"
    body: dict[str, Any] = {
        "notifyType": "PAYMENT_RESULT",
        "result": _result("SUCCESS", "success") if ok else _result(p.result_code, p.result_message),
        "paymentRequestId": p.payment_request_id,
        "paymentId": p.payment_id,
        "paymentAmount": amount_dict(p.currency, p.amount),
        "paymentCreateTime": iso(p.created_at),
    }
    if ok and p.paid_at is not None:
        body["paymentTime"] = iso(p.paid_at)
    if ok and p.psp_customer_id:
        body["pspCustomerInfo"] = {
            "pspName": "ALIPAY_CN",
            "pspCustomerId": p.psp_customer_id,
            "displayCustomerId": p.display_customer_id or "",
        }
    return body


def refund_body(r: AnyRefund) -> dict[str, Any]:
    """notifyRefund (spec §1.4)."""
    ok = r.status == "SUCCESS"
    body: dict[str, Any] = {
        "notifyType": "REFUND_RESULT",
        "result": _result("SUCCESS", "success") if ok else _result(r.result_code, r.result_message),
        "refundStatus": "SUCCESS" if ok else "FAIL",
        "refundRequestId": r.refund_request_id,
        "refundId": r.refund_id,
        "paymentId": r.payment_id,
        "refundAmount": amount_dict(r.currency, r.amount),
    }
    if ok and r.refund_time is not None:
        body["refundTime"] = iso(r.refund_time)
    return body


def registration_body(r: Registration, *, psps: tuple[str, ...]) -> dict[str, Any]:
    """notifyRegistrationStatus (spec §1.4): the review's result, overall and per PSP."""
    body: dict[str, Any] = {
        "registrationRequestId": r.registration_request_id,
        "referenceMerchantId": r.reference_merchant_id,
    }
    if r.reference_store_id:
        body["referenceStoreId"] = r.reference_store_id
    body.update(status_fields(r, psps=psps))
    return body


def enqueue_registration(tx: AnyTx, r: Registration, *, now: datetime, psps: tuple[str, ...]) -> int | None:
    """Queue notifyRegistrationStatus for a registration whose review ended; the outbox row's id."""
    if not r.notify_url:
        return None
    return _enqueue(
        tx,
        kind="REGISTRATION_STATUS",
        url=r.notify_url,
        client_id=r.client_id,
        merchant=r.merchant_customer_id,
        agent_token=r.agent_token,
        body=registration_body(r, psps=psps),
        now=now,
        payment_id=None,
    )


SAMPLE_KINDS = ("PAYMENT_RESULT", "REFUND_RESULT")


def sample_body(kind: str, *, currency: str, now: datetime, seq: int) -> dict[str, Any]:
    """A successful notifyPayment / notifyRefund of a made-up payment (the tester's default)."""
    payment_id = ids.payment_id(now, seq)
    if kind == "REFUND_RESULT":
        return {
            "notifyType": "REFUND_RESULT",
            "result": _result("SUCCESS", "success"),
            "refundStatus": "SUCCESS",
            "refundRequestId": f"TEST-REFUND-{seq}",
            "refundId": ids.refund_id(now, seq),
            "paymentId": payment_id,
            "refundAmount": amount_dict(currency, 1000),
            "refundTime": iso(now),
        }
    return {
        "notifyType": "PAYMENT_RESULT",
        "result": _result("SUCCESS", "success"),
        "paymentRequestId": f"TEST-PAY-{seq}",
        "paymentId": payment_id,
        "paymentAmount": amount_dict(currency, 1000),
        "paymentCreateTime": iso(now),
        "paymentTime": iso(now),
        "pspCustomerInfo": {
            "pspName": "ALIPAY_CN",
            "pspCustomerId": "2088000000000001",
            "displayCustomerId": "tes***@example.com",
        },
    }


def enqueue_payment(tx: AnyTx, payment: AnyPayment, *, now: datetime, notify_failures: bool) -> None:
    """Queue notifyPayment for a payment that just reached a final state, if it has a URL."""
    if not payment.notify_url:
        return
    if payment.status != "SUCCESS" and not notify_failures:
        return  # spec §9 U9: in-store sends success only, by default
    _enqueue(
        tx,
        kind="PAYMENT_RESULT",
        url=payment.notify_url,
        client_id=payment.client_id,
        merchant=payment.merchant_customer_id,
        agent_token=payment.agent_token,
        body=payment_body(payment),
        now=now,
        payment_id=payment.payment_id,
    )


def enqueue_refund(tx: AnyTx, refund: AnyRefund, payment: AnyPayment, *, now: datetime) -> None:
    if not refund.notify_url:
        return
    _enqueue(
        tx,
        kind="REFUND_RESULT",
        url=refund.notify_url,
        client_id=refund.client_id,
        merchant=refund.merchant_customer_id,
        agent_token=payment.agent_token,
        body=refund_body(refund),
        now=now,
        payment_id=refund.payment_id,
        refund_id=refund.refund_id,
    )


_NOTIFICATIONS = Notification.__table__.name  # type: ignore[attr-defined]
_INSERT = Statement(
    f"INSERT INTO {_NOTIFICATIONS} (kind, client_id, merchant_customer_id, agent_token, payment_id, "
    "refund_id, url, body, status, attempts, created_at, next_attempt_at) "
    "VALUES (:kind, :client_id, :merchant, :agent_token, :payment_id, :refund_id, :url, :body, "
    ":status, 0, :now, :now) RETURNING id"
)


def _enqueue(
    tx: AnyTx,
    *,
    kind: str,
    url: str,
    client_id: str,
    merchant: str,
    agent_token: str | None,
    body: dict[str, Any],
    now: datetime,
    payment_id: str | None,
    refund_id: str | None = None,
) -> int | None:
    raw = raw_of(tx)
    row = raw.one(
        _INSERT,
        {
            "kind": kind,
            "client_id": client_id,
            "merchant": merchant,
            "agent_token": agent_token,
            "payment_id": payment_id,
            "refund_id": refund_id,
            "url": url,
            "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            "status": NotificationStatus.PENDING.value,
            "now": raw.ts(now),
        },
    )
    return int(row[0]) if row is not None and row[0] is not None else None


class Notifier:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: Settings,
        alipay_key: rsa.RSAPrivateKey,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._key = alipay_key
        # Issue #9: picks the live Alipay key for a launched application's production client ID.
        self.key_for: Callable[[str], rsa.RSAPrivateKey] | None = None
        self._http = httpx.Client(
            transport=transport, timeout=settings.notify_timeout_seconds, follow_redirects=False
        )
        self._pool = ThreadPoolExecutor(max_workers=settings.notify_concurrency, thread_name_prefix="notify")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    # -- delivery --------------------------------------------------------------------------

    def deliver_due(self, now: datetime) -> int:
        """Send every notification whose next attempt is due by ``now``; returns how many.

        Due-ness follows the emulator clock; the lease that keeps two processes from sending
        the same notification follows the wall clock, which every process shares whatever its
        emulator clock says at the moment.
        """
        sent = 0
        while sent < MAX_DELIVERIES_PER_RUN:
            claimed = self._claim(now, limit=min(CLAIM_BATCH, MAX_DELIVERIES_PER_RUN - sent))
            if not claimed:
                break
            list(self._pool.map(self._attempt, claimed))
            sent += len(claimed)
        return sent

    def _claim(self, now: datetime, *, limit: int) -> list[int]:
        wall = self._clock.real_now()

        def work(session: Session) -> list[int]:
            rows = session.exec(
                select(Notification)
                .where(
                    Notification.status == NotificationStatus.PENDING,
                    col(Notification.next_attempt_at) <= now,
                    (col(Notification.lease_until).is_(None)) | (col(Notification.lease_until) < wall),
                )
                .order_by(col(Notification.next_attempt_at), col(Notification.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.lease_until = wall + timedelta(seconds=LEASE_SECONDS)
                session.add(row)
            return [int(r.id) for r in rows if r.id is not None]

        return self._db.transaction(work)

    def resend(self, notification_id: int) -> DeliveryAttempt:
        with self._db.read() as session:
            if session.get(Notification, notification_id) is None:
                raise ControlError(404, f"no notification {notification_id}")
        return self._attempt(notification_id, force=True)

    def _signing_key(self, client_id: str) -> rsa.RSAPrivateKey:
        return self.key_for(client_id) if self.key_for is not None else self._key

    def _attempt(self, notification_id: int, *, force: bool = False) -> DeliveryAttempt:
        with self._db.read() as session:
            n = session.get(Notification, notification_id)
            assert n is not None
        now = self._clock.now()
        sent = self.send(
            url=n.url, client_id=n.client_id, agent_token=n.agent_token, body=n.body.encode("utf-8"), now=now
        )
        request_time, status, text, error = sent.request_time, sent.http_status, sent.body, sent.error
        latency, acked = sent.latency_ms, sent.acknowledged
        log.info(
            "notify %s %s %s attempt %d: %s %.1f ms",
            n.client_id,
            n.kind,
            n.url,
            n.attempts + 1,
            "acknowledged" if acked else (error or f"HTTP {status}, not acknowledged"),
            latency,
            extra={
                "clientId": n.client_id,
                "notifyType": n.kind,
                "url": n.url,
                "attempt": n.attempts + 1,
                "httpStatus": status,
                "acknowledged": acked,
                "error": error,
                "latencyMs": round(latency, 3),
            },
        )
        with self._db.write() as session:
            row = session.get(Notification, notification_id)
            assert row is not None
            row.attempts += 1
            attempt = DeliveryAttempt(
                notification_id=notification_id,
                number=row.attempts,
                at=now,
                request_time=request_time,
                http_status=status,
                response_body=text,
                error=error,
                latency_ms=latency,
                acknowledged=acked,
            )
            session.add(attempt)
            row.lease_until = None
            if acked:
                row.status = NotificationStatus.DELIVERED
                row.next_attempt_at = None
            elif row.status == NotificationStatus.PENDING or force:
                if row.attempts >= len(RETRY_DELAYS_SECONDS):
                    row.status = NotificationStatus.GIVEN_UP
                    row.next_attempt_at = None
                else:
                    row.status = NotificationStatus.PENDING
                    row.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS_SECONDS[row.attempts])
            session.add(row)
            session.flush()
            return attempt

    def send_edited(self, *, client_id: str, url: str, body: str) -> DeliveryAttempt:
        """Sign ``body`` (edited by hand) as a notification from ``client_id`` and POST it to
        ``url`` once: kept in the outbox as kind ``MANUAL``, never retried."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ControlError(422, "url: an http:// or https:// URL")
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise ControlError(422, f"body: not JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise ControlError(422, "body: a JSON object")
        if not client_id.strip():
            raise ControlError(422, "clientId: the application whose notification this is")
        now = self._clock.now()
        with self._db.write() as session:
            row = Notification(
                kind="MANUAL",
                client_id=client_id.strip(),
                merchant_customer_id="",
                payment_id=str(parsed.get("paymentId") or "") or None,
                url=url.strip(),
                body=body,
                status=NotificationStatus.SENT_ONCE,
                created_at=now,
            )
            session.add(row)
            session.flush()
            notification_id = int(row.id or 0)
        return self._attempt(notification_id)

    def next_events(self, now: datetime) -> list[DueEvent]:
        """The next retry of a notification not yet acknowledged."""
        with self._db.read() as session:
            at = session.exec(
                select(func.min(Notification.next_attempt_at)).where(
                    Notification.status == NotificationStatus.PENDING, col(Notification.next_attempt_at) > now
                )
            ).first()
        return [DueEvent(as_utc(at), "notification retry", "the next delivery attempt")] if at else []

    def send(
        self,
        *,
        url: str,
        client_id: str,
        agent_token: str | None,
        body: bytes,
        now: datetime,
        spoil_signature: bool = False,
    ) -> SendResult:
        """The one way a notification leaves: signed POST, timed, the answer judged (spec §1.4).

        ``spoil_signature`` sends a signature that cannot verify (it signs other bytes): a
        merchant's endpoint must refuse such a notification (acceptance case NOTIFY-002).
        """
        request_time = iso(now)
        started = time.perf_counter()
        status: int | None = None
        text: str | None = None
        error: str | None = None
        try:
            parts = urlsplit(url)
            # Spec §9 U4: the query string, when present, is part of the signed path.
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            message = canonical_message(
                method="POST", path=path, client_id=client_id, time=request_time, body=body
            )
            # A spoiled signature is well formed but signs other bytes: it can only fail to verify.
            key = self._signing_key(client_id)
            signature = sign(message + b"#tampered" if spoil_signature else message, key)
            headers = {
                "content-type": "application/json; charset=UTF-8",
                "client-id": client_id,
                "request-time": request_time,
                "signature": signature_header(signature),
            }
            if agent_token:
                headers["agent-token"] = agent_token
            response = self._http.post(url, content=body, headers=headers)
            status, text = response.status_code, response.text[:4096]
        except httpx.TimeoutException as exc:
            error = f"no answer within {self._settings.notify_timeout_seconds:g} s ({type(exc).__name__})"
        except Exception as exc:  # any failure is a failed attempt on the retry schedule
            error = f"{type(exc).__name__}: {exc}"[:512]
        latency = (time.perf_counter() - started) * 1000
        return SendResult(
            url=url,
            request_time=request_time,
            http_status=status,
            body=text,
            error=error,
            latency_ms=latency,
            acknowledged=status == 200 and _acknowledges(text),
        )

    def send_tampered(self, notification_id: int) -> SendResult:
        """Send a copy of an outbox notification with a spoiled signature; the outbox is untouched."""
        with self._db.read() as session:
            n = session.get(Notification, notification_id)
            if n is None:
                raise ControlError(404, f"no notification {notification_id}")
        return self.send(
            url=n.url,
            client_id=n.client_id,
            agent_token=n.agent_token,
            body=n.body.encode("utf-8"),
            now=self._clock.now(),
            spoil_signature=True,
        )

    def send_sample(
        self, *, client_id: str, url: str, kind: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], SendResult]:
        """The notification tester (the hosted iNotify): one signed sample now, judged."""
        if kind not in SAMPLE_KINDS:
            raise ControlError(422, f"type: must be one of {', '.join(SAMPLE_KINDS)}")
        if not url.startswith(("http://", "https://")):
            raise ControlError(422, "url: must be an http(s) URL")
        now = self._clock.now()
        with self._db.write() as session:
            app = session.get(Application, client_id)
            if app is None:
                raise ControlError(404, f"clientId: no application with client ID {client_id!r}")
            seq = next_sequence(session, "notification_test")
        sent_body = (
            body if body is not None else sample_body(kind, currency=app.test_currency, now=now, seq=seq)
        )
        raw = json.dumps(sent_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return sent_body, self.send(url=url, client_id=client_id, agent_token=None, body=raw, now=now)

    # -- views -----------------------------------------------------------------------------

    def get(self, notification_id: int) -> dict[str, Any]:
        with self._db.read() as session:
            row = session.get(Notification, notification_id)
            if row is None:
                raise ControlError(404, f"no notification {notification_id}")
            attempts = session.exec(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.notification_id == notification_id)
                .order_by(col(DeliveryAttempt.number))
            ).all()
        return view(row, list(attempts))

    def list(
        self, *, client_id: str | None = None, payment_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self._db.read() as session:
            query = select(Notification).order_by(col(Notification.id).desc()).limit(limit)
            if client_id:
                query = query.where(Notification.client_id == client_id)
            if payment_id:
                query = query.where(Notification.payment_id == payment_id)
            rows = session.exec(query).all()
            ids = [r.id for r in rows]
            attempts = (
                session.exec(
                    select(DeliveryAttempt)
                    .where(col(DeliveryAttempt.notification_id).in_(ids))
                    .order_by(col(DeliveryAttempt.notification_id), col(DeliveryAttempt.number))
                ).all()
                if ids
                else []
            )
        by_id: dict[int, list[DeliveryAttempt]] = {}
        for a in attempts:
            by_id.setdefault(a.notification_id, []).append(a)
        return [view(r, by_id.get(int(r.id or 0), [])) for r in rows]


@dataclass(frozen=True, slots=True)
class SendResult:
    """One delivery: what the endpoint answered, and whether that is an acknowledgement."""

    url: str
    request_time: str
    http_status: int | None
    body: str | None
    error: str | None
    latency_ms: float
    acknowledged: bool

    def why_not(self) -> str | None:
        """Why this answer is not an acknowledgement (spec §1.4), or None when it is one."""
        if self.acknowledged:
            return None
        if self.error is not None:
            return f"no HTTP answer: {self.error}"
        if self.http_status != 200:
            return f"HTTP {self.http_status}: an acknowledgement is HTTP 200"
        return (
            'the body is not {"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":'
            '"success"}}: result.resultStatus must be "S"'
        )


def _acknowledges(text: str | None) -> bool:
    """Acknowledged only by ``{"result": {"resultStatus": "S", ...}}`` (spec §1.4)."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return False
    result = data.get("result") if isinstance(data, dict) else None
    return isinstance(result, dict) and result.get("resultStatus") == "S"


def view(n: Notification, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {
        "id": n.id,
        "notifyType": n.kind,
        "clientId": n.client_id,
        "paymentId": n.payment_id,
        "refundId": n.refund_id,
        "url": n.url,
        "body": json.loads(n.body),
        "status": n.status,
        "createdAt": iso(n.created_at),
        "nextAttemptAt": iso(as_utc(n.next_attempt_at)) if n.next_attempt_at else None,
        "attempts": [
            {
                "number": a.number,
                "at": iso(a.at),
                "requestTime": a.request_time,
                "httpStatus": a.http_status,
                "responseBody": a.response_body,
                "error": a.error,
                "latencyMs": round(a.latency_ms, 3),
                "acknowledged": a.acknowledged,
            }
            for a in attempts
        ],
    }
