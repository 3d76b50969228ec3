"""Build, enqueue and deliver notifications; no FastAPI here.

Enqueued in the same transaction as the state change (an outbox), delivered by ``deliver_due``
(a due-work hook) on the emulator's clock, retried on the schedule of spec §1.4. The HTTP client
is injectable (``post``: a function of url, body and headers, in unit tests).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from .. import compactjson, ids
from ..amounts import amount_dict
from ..clock import Clock, DueEvent, as_utc, iso
from ..errors import ControlError, message_of, status_of
from ..hotsql import AnyTx, Raw, Statement, raw_of
from ..payments.models import AnyPayment
from ..refunds.models import AnyRefund
from ..registrations.models import Registration, status_fields
from ..sandbox.models import Application
from ..settings import Settings
from ..signing import canonical_message, sign, signature_header
from ..storage import Database, next_sequence
from .http import KeepAlivePost, Post
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


_NOTIFICATION_TABLE = Notification.__table__.name  # type: ignore[attr-defined]
_INSERT = Statement(
    f"INSERT INTO {_NOTIFICATION_TABLE} (kind, client_id, merchant_customer_id, agent_token, payment_id, "
    "refund_id, url, body, status, attempts, created_at, next_attempt_at) "
    "VALUES (:kind, :client_id, :merchant, :agent_token, :payment_id, :refund_id, :url, :body, "
    ":status, 0, :now, :now) RETURNING id"
)
_NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
_ATTEMPTS = DeliveryAttempt.__table__  # type: ignore[attr-defined]
_CLAIMED_COLUMNS = (
    _NOTIFICATIONS.c.id,
    _NOTIFICATIONS.c.kind,
    _NOTIFICATIONS.c.client_id,
    _NOTIFICATIONS.c.agent_token,
    _NOTIFICATIONS.c.url,
    _NOTIFICATIONS.c.body,
    _NOTIFICATIONS.c.attempts,
)
_BY_ID = sa_select(*_CLAIMED_COLUMNS).where(_NOTIFICATIONS.c.id == bindparam("nid"))
_ATTEMPT_TABLE = _ATTEMPTS.name
# The delivery worker's statements (see _claim and _record), on the driver's connection.
# Due on the emulator clock, not leased by a live worker (wall clock), oldest first.
_DUE_WHERE = (
    f"FROM {_NOTIFICATION_TABLE} WHERE status = '{NotificationStatus.PENDING.value}' "
    "AND next_attempt_at <= :now AND (lease_until IS NULL OR lease_until < :wall)"
)
_ANY_DUE = Statement(f"SELECT id {_DUE_WHERE} LIMIT 1")
_CLAIMABLE = Statement(
    f"SELECT id, kind, client_id, agent_token, url, body, attempts {_DUE_WHERE} "
    "ORDER BY next_attempt_at, id LIMIT :limit{claim}"
)
_LEASE = Statement(f"UPDATE {_NOTIFICATION_TABLE} SET lease_until = ? WHERE id = ?")
_MOVE_ON = Statement(
    f"UPDATE {_NOTIFICATION_TABLE} SET attempts = ?, status = ?, next_attempt_at = ?, lease_until = NULL "
    "WHERE id = ?"
)
_INSERT_ATTEMPT = Statement(
    f"INSERT INTO {_ATTEMPT_TABLE} (notification_id, number, at, request_time, http_status, "
    "response_body, error, latency_ms, acknowledged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@functools.lru_cache(maxsize=CLAIM_BATCH + 1)
def _current(count: int) -> Statement:
    """The stored state of ``count`` notifications, by id (one placeholder each)."""
    marks = ", ".join("?" * count)
    return Statement(
        f"SELECT id, status, attempts, next_attempt_at FROM {_NOTIFICATION_TABLE} WHERE id IN ({marks})"
    )


@dataclass(frozen=True, slots=True)
class _Claimed:
    """What sending one notification needs, read when it was claimed."""

    id: int
    kind: str
    client_id: str
    agent_token: str | None
    url: str
    body: str
    attempts: int

    @staticmethod
    def of(row: Any) -> _Claimed:
        return _Claimed(
            id=int(row.id),
            kind=row.kind,
            client_id=row.client_id,
            agent_token=row.agent_token,
            url=row.url,
            body=row.body,
            attempts=int(row.attempts),
        )


def _log_attempt(n: _Claimed, sent: SendResult) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    acked = sent.acknowledged
    log.info(
        "notify %s %s %s attempt %d: %s %.1f ms",
        n.client_id,
        n.kind,
        n.url,
        n.attempts + 1,
        "acknowledged" if acked else (sent.error or f"HTTP {sent.http_status}, not acknowledged"),
        sent.latency_ms,
        extra={
            "clientId": n.client_id,
            "notifyType": n.kind,
            "url": n.url,
            "attempt": n.attempts + 1,
            "httpStatus": sent.http_status,
            "acknowledged": acked,
            "error": sent.error,
            "latencyMs": round(sent.latency_ms, 3),
        },
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
            "body": compactjson.dumps_text(body),
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
        post: Post | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._key = alipay_key
        # Issue #9: picks the live Alipay key for a launched application's production client ID.
        self.key_for: Callable[[str], rsa.RSAPrivateKey] | None = None
        self._keep_alive = KeepAlivePost(settings.notify_timeout_seconds)
        self.post: Post = post or self._keep_alive
        self._pool = ThreadPoolExecutor(max_workers=settings.notify_concurrency, thread_name_prefix="notify")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._keep_alive.close()

    # -- delivery --------------------------------------------------------------------------

    def deliver_due(self, now: datetime) -> int:
        """Send every notification whose next attempt is due by ``now``; returns how many.

        Due-ness follows the emulator clock; the lease that keeps two processes from sending
        the same notification follows the wall clock, which every process shares whatever its
        emulator clock says at the moment. Each batch costs one write to claim it and one write
        to record every attempt of it, whatever its size; its sends run ``notify_concurrency``
        at a time.
        """
        sent = 0
        while sent < MAX_DELIVERIES_PER_RUN:
            claimed = self._claim(now, limit=min(CLAIM_BATCH, MAX_DELIVERIES_PER_RUN - sent))
            if not claimed:
                break
            results = self._send_all(claimed)
            self._record(list(zip(claimed, results, strict=True)))
            sent += len(claimed)
        return sent

    def _claim(self, now: datetime, *, limit: int) -> list[_Claimed]:
        wall = self._clock.real_now()
        lease = wall + timedelta(seconds=LEASE_SECONDS)
        # Polled often (the delivery worker: every 0.1 s): look before taking the write lock,
        # so an idle outbox costs one indexed read and never queues behind a pay.
        due = {"now": now, "wall": wall}
        if self._db.hot_read(lambda raw: raw.one(_ANY_DUE, {k: raw.ts(v) for k, v in due.items()})) is None:
            return []

        def work(raw: Raw) -> list[_Claimed]:
            params = {k: raw.ts(v) for k, v in due.items()}
            rows = raw.execute(_CLAIMABLE, {**params, "limit": limit}).fetchall()
            if rows:
                held = raw.ts(lease)
                raw.executemany(_LEASE, [(held, r[0]) for r in rows])
            return [_Claimed(*r) for r in rows]

        # The driver's connection, every statement prebuilt: the write lock is held for as
        # little as the statements take (a pay waiting for it waits on the event loop).
        return self._db.hot_transaction(work)

    def _send_all(self, claimed: list[_Claimed]) -> list[SendResult]:
        """Send a batch ``notify_concurrency`` at a time, in its order of results.

        Each pool thread takes the next notification when it is done with one (a slow receiver
        holds up only its own thread): a task per thread, not per notification, whose future
        and hand-off cost about as much as a small POST does.
        """
        results: list[SendResult | None] = [None] * len(claimed)
        order = iter(range(len(claimed)))
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                results[i] = self._send_claimed(claimed[i])

        tasks = [
            self._pool.submit(drain) for _ in range(min(self._settings.notify_concurrency, len(claimed)))
        ]
        for task in tasks:
            task.result()
        return [r for r in results if r is not None]

    def _send_claimed(self, claimed: _Claimed) -> SendResult:
        return self.send(
            url=claimed.url,
            client_id=claimed.client_id,
            agent_token=claimed.agent_token,
            body=claimed.body.encode("utf-8"),
            now=self._clock.now(),
        )

    def _record(
        self, sent: list[tuple[_Claimed, SendResult]], *, force: bool = False, at: datetime | None = None
    ) -> list[tuple[_Claimed, SendResult, int]]:
        """Keep every attempt of a batch and move each notification on, in one transaction.

        The rows are read again inside it: a notification deleted meanwhile (a reset) gets no
        attempt, and the attempt number follows what is stored, not what was claimed. Returns
        what was recorded, with each attempt's number.
        """
        if not sent:
            return []
        now = at or self._clock.now()
        for claimed, result in sent:
            _log_attempt(claimed, result)

        ids = [c.id for c, _ in sent]
        current_sql = _current(len(ids))

        def work(raw: Raw) -> list[tuple[_Claimed, SendResult, int]]:
            current = {int(r[0]): r for r in raw.execute(current_sql, tuple(ids)).fetchall()}
            moved: list[tuple[_Claimed, SendResult, int]] = []
            updates: list[tuple[Any, ...]] = []
            for claimed, result in sent:
                row = current.get(claimed.id)
                if row is None:
                    continue
                _, status, attempts, next_at = row
                number = int(attempts) + 1
                if result.acknowledged:
                    status, next_at = NotificationStatus.DELIVERED.value, None
                elif status == NotificationStatus.PENDING or force:
                    if number >= len(RETRY_DELAYS_SECONDS):
                        status, next_at = NotificationStatus.GIVEN_UP.value, None
                    else:
                        status = NotificationStatus.PENDING.value
                        next_at = raw.ts(now + timedelta(seconds=RETRY_DELAYS_SECONDS[number]))
                updates.append((number, status, next_at, claimed.id))
                moved.append((claimed, result, number))
            if updates:
                at = raw.ts(now)
                raw.executemany(_MOVE_ON, updates)
                raw.executemany(
                    _INSERT_ATTEMPT,
                    [
                        (
                            c.id,
                            n,
                            at,
                            r.request_time,
                            r.http_status,
                            r.body,
                            r.error,
                            r.latency_ms,
                            r.acknowledged,
                        )
                        for c, r, n in moved
                    ],
                )
            return moved

        # Like _claim: prebuilt statements on the driver's connection, a short write lock.
        return self._db.hot_transaction(work)

    def resend(self, notification_id: int) -> DeliveryAttempt:
        with self._db.read() as session:
            if session.get(Notification, notification_id) is None:
                raise ControlError(404, f"no notification {notification_id}")
        return self._attempt(notification_id, force=True)

    def _signing_key(self, client_id: str) -> rsa.RSAPrivateKey:
        return self.key_for(client_id) if self.key_for is not None else self._key

    def _attempt(self, notification_id: int, *, force: bool = False) -> DeliveryAttempt:
        """One attempt now, outside the schedule (resend, edit and send)."""
        with self._db.read_connection() as conn:
            row = conn.execute(_BY_ID, {"nid": notification_id}).first()
        if row is None:
            raise ControlError(404, f"no notification {notification_id}")
        claimed = _Claimed.of(row)
        sent = self._send_claimed(claimed)
        at = self._clock.now()
        recorded = self._record([(claimed, sent)], force=force, at=at)
        if not recorded:
            raise ControlError(404, f"notification {notification_id} was deleted while it was sent")
        [(_, result, number)] = recorded
        return DeliveryAttempt(
            notification_id=claimed.id,
            number=number,
            at=at,
            request_time=result.request_time,
            http_status=result.http_status,
            response_body=result.body,
            error=result.error,
            latency_ms=result.latency_ms,
            acknowledged=result.acknowledged,
        )

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
            answer = self.post(url, body, headers)
            status, text = answer.status, answer.text
        except TimeoutError as exc:
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
