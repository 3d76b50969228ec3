"""What the sandbox console shows and does, over the domains' services. No HTTP here.

- a payment's timeline: its gateway calls (journal), buyer actions and states, refunds,
  notification attempts and the report rows it produced, in time order;
- the clock: advance by a duration or to the next event any domain has scheduled;
- a refused call's signature comparison (``gateway.diagnosis``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import DueEvent, as_utc, iso
from ..errors import ControlError
from ..gateway.diagnosis import SignatureComparison, compare_signed
from ..journal import JournalEntry
from ..payments.models import Payment
from ..reconciliation.service import ReconciliationService
from ..refunds.models import Refund
from ..runtime import Runtime

SCANNED = ("OrderCode", "EntryCode")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    at: datetime
    kind: str  # "call", "buyer", "state", "refund", "notification", "report"
    title: str
    detail: str = ""
    href: str | None = None


def _parse(text: str) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def payment_timeline(
    *,
    payment: Payment,
    refunds: list[Refund],
    calls: list[JournalEntry],
    notifications: list[dict[str, Any]],
    report_rows: list[Any],
) -> list[TimelineEvent]:
    """Everything that happened to one payment, oldest first."""
    events: list[TimelineEvent] = []
    api_names = [c.path.rsplit("/", 1)[-1] for c in calls]
    for call, api in zip(calls, api_names, strict=True):
        at = _parse(call.time)
        if at is None:
            continue
        result = f"{call.result_status or '-'} {call.result_code or ''}".strip()
        events.append(TimelineEvent(at, "call", f"{api} call", result, f"/console/requests/{call.id}"))
    created = as_utc(payment.created_at)
    if "pay" not in api_names:
        events.append(TimelineEvent(created, "call", "pay call", "(no longer in the request log)"))
    if payment.buyer_login_id:
        action = "scanned the code" if payment.scenario in SCANNED else "presented a payment code"
        at = as_utc(payment.paid_at) if payment.scenario in SCANNED and payment.paid_at else created
        events.append(TimelineEvent(at, "buyer", f"buyer {payment.buyer_login_id} {action}"))
    if payment.verify_by is not None and payment.status == "PROCESSING":
        events.append(
            TimelineEvent(
                created,
                "buyer",
                "waiting for the buyer's PIN",
                f"the verification times out at {iso(payment.verify_by)}",
            )
        )
    if payment.paid_at is not None:
        events.append(
            TimelineEvent(
                as_utc(payment.paid_at),
                "state",
                f"payment {payment.status}",
                f"result code {payment.result_code}",
            )
        )
    if payment.cancelled_at is not None:
        events.append(TimelineEvent(as_utc(payment.cancelled_at), "state", "payment CANCELLED"))
    for r in refunds:
        events.append(
            TimelineEvent(
                as_utc(r.refund_time or r.created_at),
                "refund",
                f"refund {r.refund_id}: {r.status}",
                f"{r.amount} {r.currency} (minor units), result code {r.result_code}",
            )
        )
    for n in notifications:
        href = f"/console/notifications/{n['id']}"
        for attempt in n["attempts"]:
            at = _parse(attempt["at"])
            if at is None:
                continue
            code = attempt["httpStatus"]
            answer = f"HTTP {code}" if code is not None else f"no answer ({attempt['error']})"
            ack = "acknowledged" if attempt["acknowledged"] else "not acknowledged"
            title = f"{n['notifyType']} notification, attempt {attempt['number']}"
            events.append(TimelineEvent(at, "notification", title, f"{answer}, {ack}", href))
        if not n["attempts"]:
            events.append(
                TimelineEvent(_parse(n["createdAt"]) or created, "notification", "notification queued")
            )
    for row in report_rows:
        at = _parse(f"{row.file.date[:4]}-{row.file.date[4:6]}-{row.file.date[6:]}T00:00:00+08:00") or created
        events.append(
            TimelineEvent(
                at,
                "report",
                f"report row: {row.file.name}, line {row.line}",
                row.text,
                f"/console/reconciliation/files/{row.file.path}",
            )
        )
    order = {"call": 0, "buyer": 1, "state": 2, "refund": 3, "notification": 4, "report": 5}
    return sorted(events, key=lambda e: (e.at, order.get(e.kind, 9)))


def timeline_of(
    rt: Runtime, reports: ReconciliationService, payment: Payment, refunds: list[Refund]
) -> list[TimelineEvent]:
    """Gather a payment's calls, notifications and report rows, and build its timeline."""
    needles = [payment.payment_id, f'"{payment.payment_request_id}"']
    calls = rt.journal.search(client_id=payment.client_id, body_contains=needles, limit=200)
    calls.reverse()
    notifications = rt.notifier.list(payment_id=payment.payment_id, limit=200)
    ids = [payment.payment_id, *(r.refund_id for r in refunds)]
    rows = reports.rows_mentioning(customer_id=payment.merchant_customer_id, needles=ids)
    return payment_timeline(
        payment=payment, refunds=refunds, calls=calls, notifications=notifications, report_rows=rows
    )


# -- clock ------------------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` -> seconds (422 naming the field otherwise)."""
    match = _DURATION.match(text or "")
    if match is None:
        raise ControlError(422, "duration: a number with an optional unit s, m, h or d (e.g. 15m)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0 or seconds > 400 * 86400:
        raise ControlError(422, "duration: more than 0 and at most 400 days")
    return seconds


def advance_clock(rt: Runtime, seconds: float) -> None:
    """Move the emulator clock forward and run whatever became due, before returning."""
    rt.change_clock(lambda clock: clock.advance(seconds))
    rt.run_due()


def set_frozen(rt: Runtime, frozen: bool) -> None:
    rt.change_clock(lambda clock: clock.freeze(frozen))


def advance_to_next_event(rt: Runtime) -> DueEvent:
    """Move the clock to the soonest scheduled event (a second past it) and let it happen."""
    now = rt.clock.now()
    events = rt.upcoming(now)
    if not events:
        raise ControlError(409, "nothing is scheduled: no code, retry or report is waiting")
    event = events[0]
    advance_clock(rt, (event.at - now).total_seconds() + 1)
    return event


def next_events(rt: Runtime, limit: int = 10) -> list[DueEvent]:
    return rt.upcoming(rt.clock.now())[:limit]


# -- request log ------------------------------------------------------------------------------


def signature_comparison(entry: JournalEntry) -> SignatureComparison | None:
    """For a call refused at the signature check, what was verified beside what was likely signed."""
    diag = entry.diagnosis
    if diag is None or diag.check != "signature" or diag.verified_string is None:
        return None
    headers = {k.lower(): v for k, v in entry.headers.items()}
    return compare_signed(
        method=entry.method,
        path=entry.path,
        client_id_header=headers.get("client-id", ""),
        request_time=headers.get("request-time", ""),
        body=entry.body,
        differs=diag.differs,
    )
