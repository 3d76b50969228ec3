"""Open runs, arm cases, grade them from the evidence, finish runs, report them. No HTTP here.

Grades are computed when a run is read (and at its finish) from the evidence of each case's
window and kept once decided; ``run_due`` (a due-work hook) does the timed part of arming
(sending a notification again, sending a tampered copy) and ``on_call`` (a gateway call hook)
lets a buyer confirm once the first inquiry arrived.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from ..clock import Clock, as_utc, iso
from ..control.simulation import Simulations, make_fault, make_scenario
from ..errors import ControlError
from ..journal import Journal, JournalEntry
from ..notifications.models import DeliveryAttempt, Notification
from ..notifications.service import Notifier
from ..payments.models import Payment, PaymentStatus
from ..payments.service import PaymentService
from ..reconciliation.models import ReportDownload
from ..sandbox.models import Application, Buyer
from ..settings import Settings
from ..storage import Database
from ..wallet.service import issue_payment_code
from .cases import BY_ID, CASES, Case, Verdict, applies
from .evidence import Attempt, Call, Download, Evidence, Notice, PaymentFacts
from .models import GRADED, AcceptanceCase, AcceptanceRun, CaseStatus, RunStatus

# A code handed out by a case lives long enough for a person to type it into a POS.
CASE_CODE_TTL_SECONDS = 600
# A forced answer or fault armed by a case lapses after this long (emulator clock) unmet.
ARMED_MINUTES = 30
SUGGESTED_AMOUNT = "1000"  # minor units; clear of the sandbox's trigger amounts (99xx)
NOT_EXERCISED = "not exercised: nothing the case looks for happened before the run finished"


@dataclass(frozen=True, slots=True)
class CaseView:
    run_id: int
    case: Case
    row: AcceptanceCase

    def public(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "title": self.case.title,
            "status": self.row.status,
            "required": self.case.required,
            "needsStart": self.case.arming is not None,
            "instruction": self.case.instruction,
            "expected": self.case.expected,
            "reason": self.row.reason,
            "evidence": json.loads(self.row.evidence),
            "values": json.loads(self.row.case_values),
            "startedAt": iso(self.row.started_at) if self.row.started_at else None,
            "gradedAt": iso(self.row.graded_at) if self.row.graded_at else None,
        }


@dataclass(frozen=True, slots=True)
class RunView:
    run: AcceptanceRun
    cases: list[CaseView]

    @property
    def id(self) -> int:
        return int(self.run.id or 0)

    @property
    def passed(self) -> bool:
        """Every required case passed (the CLI's exit code, the go-live gate)."""
        return all(c.row.status == CaseStatus.PASSED for c in self.cases if c.case.required)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "clientId": self.run.client_id,
            "status": self.run.status,
            "createdAt": iso(self.run.created_at),
            "finishedAt": iso(self.run.finished_at) if self.run.finished_at else None,
            "passed": self.passed,
            "cases": [c.public() for c in self.cases],
        }

    def junit(self) -> str:
        """JUnit XML: one testcase per case, the reason as the failure message (for CI)."""
        failures = sum(1 for c in self.cases if c.row.status == CaseStatus.FAILED)
        skipped = sum(1 for c in self.cases if c.row.status not in GRADED)
        suite = ET.Element(
            "testsuite",
            {
                "name": f"alipay-emulator acceptance run {self.id} ({self.run.client_id})",
                "tests": str(len(self.cases)),
                "failures": str(failures),
                "errors": "0",
                "skipped": str(skipped),
                "timestamp": iso(self.run.created_at),
            },
        )
        for c in self.cases:
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": f"acceptance.{self.run.client_id}", "name": f"{c.case.id} {c.case.title}"},
            )
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", {"name": "required", "value": str(c.case.required).lower()})
            evidence = json.loads(c.row.evidence)
            ET.SubElement(
                props,
                "property",
                {"name": "evidence", "value": " ".join(f"{r['kind']}:{r['id']}" for r in evidence)},
            )
            if c.row.status == CaseStatus.FAILED:
                message = c.row.reason or "failed"
                failure = ET.SubElement(
                    case,
                    "failure",
                    {"message": message, "type": "required" if c.case.required else "optional"},
                )
                failure.text = f"{message}\nexpected: {c.case.expected}"
            elif c.row.status != CaseStatus.PASSED:
                ET.SubElement(case, "skipped", {"message": c.row.status})
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


class AcceptanceService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: Settings,
        journal: Journal,
        simulations: Simulations,
        notifier: Notifier,
        payments: PaymentService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._journal = journal
        self._simulations = simulations
        self._notifier = notifier
        self._payments = payments
        self._confirm_lock = threading.Lock()
        self._confirm_codes: frozenset[str] = frozenset()
        self._confirm_checked = 0.0

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, *, client_id: str, cases: list[str] | None = None) -> RunView:
        now = self._clock.now()
        # Before the transaction: the journal's mark may flush buffered entries (a write of its
        # own, and SQLite's writers queue on one lock).
        journal_mark = self._journal.last_id()
        with self._db.write() as session:
            app = session.get(Application, client_id)
            if app is None:
                raise ControlError(404, f"clientId: no application with client ID {client_id!r}")
            scenarios = [s for s in app.scenarios.split(",") if s]
            chosen = self._choose(cases, scenarios, client_id)
            run = AcceptanceRun(client_id=client_id, status=RunStatus.RUNNING, created_at=now)
            session.add(run)
            session.flush()
            notification_mark = _last_notification(session)
            for position, case in enumerate(chosen):
                waiting = case.arming is None
                session.add(
                    AcceptanceCase(
                        run_id=int(run.id or 0),
                        case_id=case.id,
                        position=position,
                        status=CaseStatus.WAITING if waiting else CaseStatus.NOT_STARTED,
                        started_at=now if waiting else None,
                        journal_mark=journal_mark,
                        notification_mark=notification_mark,
                    )
                )
            run_id = int(run.id or 0)
        return self.run(run_id)

    @staticmethod
    def _choose(cases: list[str] | None, scenarios: list[str], client_id: str) -> list[Case]:
        if cases is None:
            return [c for c in CASES if applies(c, scenarios)]
        chosen: list[Case] = []
        for case_id in dict.fromkeys(cases):
            case = BY_ID.get(case_id)
            if case is None:
                raise ControlError(422, f"cases: unknown case {case_id!r} (known: {', '.join(BY_ID)})")
            if not applies(case, scenarios):
                needs = " or ".join(sorted(case.scenarios or ()))
                raise ControlError(
                    422,
                    f"cases: {case_id} needs the {needs} scenario, which application {client_id} does not have",
                )
            chosen.append(case)
        if not chosen:
            raise ControlError(422, "cases: give at least one case, or leave it out for every case")
        return chosen

    def run(self, run_id: int) -> RunView:
        """The run with its grades brought up to date."""
        self._grade(run_id, final=False)
        return self._view(run_id)

    def runs(self, *, client_id: str, limit: int = 50) -> list[RunView]:
        with self._db.read() as session:
            ids = session.exec(
                select(AcceptanceRun.id)
                .where(AcceptanceRun.client_id == client_id)
                .order_by(col(AcceptanceRun.id).desc())
                .limit(limit)
            ).all()
        return [self._view(int(i or 0)) for i in ids]

    def finish(self, run_id: int) -> RunView:
        """End the run: every case still waiting is graded for the last time (or not exercised)."""
        view = self._view(run_id)
        if view.run.status == RunStatus.FINISHED:
            return view
        self._grade(run_id, final=True)
        for c in view.cases:
            self._disarm(c.row)
        with self._db.write() as session:
            run = session.get(AcceptanceRun, run_id)
            assert run is not None
            run.status = RunStatus.FINISHED
            run.finished_at = self._clock.now()
            session.add(run)
        self._forget_confirmations()
        return self._view(run_id)

    def start_case(self, run_id: int, case_id: str) -> CaseView:
        """Arm a case (codes, a forced answer, a withheld answer); its window starts now."""
        view = self._view(run_id)
        if view.run.status != RunStatus.RUNNING:
            raise ControlError(409, f"run {run_id} is finished: open a new run")
        found = next((c for c in view.cases if c.case.id == case_id), None)
        if found is None:
            raise ControlError(404, f"run {run_id} has no case {case_id!r}")
        if found.row.status in GRADED:
            raise ControlError(
                409, f"case {case_id} is already {found.row.status}: open a new run to try again"
            )
        now = self._clock.now()
        # Scenarios, faults and the journal mark are writes of their own: never inside the
        # case's transaction (SQLite's writers queue on one lock; PostgreSQL would hold rows).
        self._disarm(found.row)
        journal_mark = self._journal.last_id()
        with self._db.write() as session:
            row = session.get(AcceptanceCase, found.row.id)
            assert row is not None
            app = session.get(Application, view.run.client_id)
            values = self._values(session, found.case, app, now)
            row.status = CaseStatus.WAITING
            row.started_at = now
            row.journal_mark = journal_mark
            row.notification_mark = _last_notification(session)
            row.case_values = json.dumps(values)
            row.state = "{}"
            session.add(row)
        armed = self._arm(found.case, app.client_id if app is not None else None, now)
        if armed:
            self._set_state(found.row, {"armed": armed})
        self._forget_confirmations()
        return next(c for c in self._view(run_id).cases if c.case.id == case_id)

    def _values(self, session: Session, case: Case, app: Application | None, now: datetime) -> dict[str, Any]:
        """The values the case hands out (a buyer and a fresh payment code), issued in ``session``."""
        arming = case.arming
        if arming is None or app is None or arming.buyer is None:
            return {}
        buyer = session.exec(
            select(Buyer).where(Buyer.behaviour == arming.buyer).order_by(col(Buyer.login_id))
        ).first()
        if buyer is None:
            raise ControlError(409, f"the sandbox has no buyer with behaviour {arming.buyer!r} for {case.id}")
        code = issue_payment_code(
            session,
            login_id=buyer.login_id,
            now=now,
            ttl_seconds=CASE_CODE_TTL_SECONDS,
            digits=arming.digits,
        )
        return {
            "buyer": buyer.login_id,
            "paymentCode": code.code,
            "paymentCodeExpiresAt": iso(code.expires_at),
            "amount": {"currency": app.test_currency, "value": SUGGESTED_AMOUNT},
        }

    def _arm(self, case: Case, client_id: str | None, now: datetime) -> list[int]:
        """The forced answer or fault the case arms, for this application only: their ids."""
        arming = case.arming
        if arming is None or client_id is None:
            return []
        armed: list[int] = []
        if arming.scenario is not None:
            api, result_code = arming.scenario
            scenario = make_scenario(
                api=api, result_code=result_code, now=now, count=1, minutes=ARMED_MINUTES, client_id=client_id
            )
            armed.append(self._simulations.add(scenario).id)
        if arming.fault is not None:
            api, kind = arming.fault
            fault = make_fault(
                api=api, kind=kind, now=now, count=1, minutes=ARMED_MINUTES, client_id=client_id
            )
            armed.append(self._simulations.add(fault).id)
        return armed

    def _disarm(self, row: AcceptanceCase) -> None:
        """Withdraw a forced answer or fault the case armed and the application did not meet."""
        armed = json.loads(row.state).get("armed")
        if isinstance(armed, list) and armed:
            self._simulations.discard([int(i) for i in armed])

    # -- grading ---------------------------------------------------------------------------

    def _grade(self, run_id: int, *, final: bool) -> None:
        view = self._view(run_id)
        if view.run.status == RunStatus.FINISHED:
            return
        for c in view.cases:
            if c.row.status in GRADED:
                continue
            if c.row.status == CaseStatus.NOT_STARTED:
                if final:
                    self._decide(c.row, Verdict(False, "not exercised: the case was never started", ()))
                continue
            evidence = self._evidence(view.run.client_id, c.case, c.row, final=final)
            verdict = c.case.rule(evidence)
            if verdict is None and final:
                verdict = Verdict(False, NOT_EXERCISED, ())
            if verdict is not None:
                self._decide(c.row, verdict)

    def _decide(self, row: AcceptanceCase, verdict: Verdict) -> None:
        with self._db.write() as session:
            current = session.get(AcceptanceCase, row.id)
            if current is None or current.status in GRADED:
                return
            current.status = CaseStatus.PASSED if verdict.passed else CaseStatus.FAILED
            current.reason = verdict.reason
            current.evidence = json.dumps([r.public() for r in verdict.evidence])
            current.graded_at = self._clock.now()
            session.add(current)

    def _evidence(self, client_id: str, case: Case, row: AcceptanceCase, *, final: bool) -> Evidence:
        calls: tuple[Call, ...] = ()
        notices: tuple[Notice, ...] = ()
        downloads: tuple[Download, ...] = ()
        payments: dict[str, PaymentFacts] = {}
        if "requests" in case.reads:
            entries = self._journal.since(client_id=client_id, after_id=row.journal_mark)
            calls = tuple(c for c in (Call.of(e) for e in entries) if c is not None)
        with self._db.read() as session:
            if "notifications" in case.reads:
                notices = _notices(session, client_id, row.notification_mark)
            if "downloads" in case.reads and row.started_at is not None:
                downloads = _downloads(session, client_id, as_utc(row.started_at))
            ids = {c.payment_id for c in calls if c.payment_id}
            if ids:
                for p in session.exec(select(Payment).where(col(Payment.payment_id).in_(ids))).all():
                    payments[p.payment_id] = PaymentFacts(
                        payment_id=p.payment_id,
                        payment_request_id=p.payment_request_id,
                        amount=p.amount,
                        status=p.status,
                        scanned=p.buyer_login_id is not None,
                    )
        return Evidence(
            calls=calls,
            notifications=notices,
            downloads=downloads,
            payments=payments,
            values=json.loads(row.case_values),
            state=json.loads(row.state),
            final=final,
        )

    def _view(self, run_id: int) -> RunView:
        with self._db.read() as session:
            run = session.get(AcceptanceRun, run_id)
            if run is None:
                raise ControlError(404, f"no acceptance run {run_id}")
            rows = session.exec(
                select(AcceptanceCase)
                .where(AcceptanceCase.run_id == run_id)
                .order_by(col(AcceptanceCase.position))
            ).all()
        return RunView(
            run=run, cases=[CaseView(run_id, BY_ID[r.case_id], r) for r in rows if r.case_id in BY_ID]
        )

    # -- timed arming: resend, tampered send -----------------------------------------------

    def run_due(self, now: datetime) -> None:
        """Send a started NOTIFY case's notification again, or a tampered copy, once it was sent."""
        with self._db.read() as session:
            rows = session.exec(
                select(AcceptanceCase, AcceptanceRun.client_id)
                .join(AcceptanceRun, col(AcceptanceRun.id) == col(AcceptanceCase.run_id))
                .where(
                    AcceptanceRun.status == RunStatus.RUNNING,
                    AcceptanceCase.status == CaseStatus.WAITING,
                    col(AcceptanceCase.case_id).in_(
                        [c.id for c in CASES if c.arming and (c.arming.resend or c.arming.tamper)]
                    ),
                )
            ).all()
        for row, client_id in rows:
            arming = BY_ID[row.case_id].arming
            assert arming is not None
            if json.loads(row.state):
                continue  # done already
            with self._db.read() as session:
                notice = next(
                    (
                        n
                        for n in _notices(session, client_id, row.notification_mark)
                        if n.kind == "PAYMENT_RESULT" and n.attempts
                    ),
                    None,
                )
            if notice is None:
                continue
            if arming.resend:
                if not notice.attempts[0].acknowledged or not self._claim(row, {"resending": notice.id}):
                    continue
                attempt = self._notifier.resend(notice.id)
                self._set_state(row, {"resentNotification": notice.id, "resentAttempt": attempt.number})
            elif arming.tamper and self._claim(row, {"tampering": notice.id}):
                sent = self._notifier.send_tampered(notice.id)
                self._set_state(
                    row,
                    {
                        "tampered": {
                            "notificationId": notice.id,
                            "httpStatus": sent.http_status,
                            "body": sent.body,
                            "error": sent.error,
                            "acknowledged": sent.acknowledged,
                        }
                    },
                )

    def _claim(self, row: AcceptanceCase, state: dict[str, Any]) -> bool:
        """Take the case's one-time action (several processes may run the hook at once)."""
        with self._db.write() as session:
            current = session.exec(
                select(AcceptanceCase).where(AcceptanceCase.id == row.id).with_for_update()
            ).first()
            if current is None or json.loads(current.state):
                return False
            current.state = json.dumps(state)
            session.add(current)
            return True

    def _set_state(self, row: AcceptanceCase, state: dict[str, Any]) -> None:
        with self._db.write() as session:
            current = session.get(AcceptanceCase, row.id)
            if current is not None:
                current.state = json.dumps(state)
                session.add(current)

    # -- the buyer who confirms after the first inquiry ------------------------------------

    def on_call(self, entry: JournalEntry) -> None:
        """Gateway call hook: an inquiry of a started SPOT-003 payment lets its buyer confirm."""
        if not entry.path.endswith("/inquiryPayment"):
            return
        codes = self._codes_to_confirm()
        if not codes:
            return
        try:
            body = json.loads(entry.body)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        pid, rid = body.get("paymentId"), body.get("paymentRequestId")
        with self._db.read() as session:
            candidates = session.exec(
                select(Payment).where(
                    col(Payment.payment_method_id).in_(codes),
                    Payment.status == PaymentStatus.PROCESSING,
                    col(Payment.verify_by).is_not(None),
                )
            ).all()
        for p in candidates:
            same = (pid and p.payment_id == pid) or (not pid and rid and p.payment_request_id == rid)
            if same and p.buyer_login_id:
                self._payments.wallet_confirm(
                    buyer_login_id=p.buyer_login_id, payment_id=p.payment_id, approve=True
                )

    def _codes_to_confirm(self) -> frozenset[str]:
        # Re-read at most once a second: every process learns of a started case that soon.
        with self._confirm_lock:
            if time.monotonic() - self._confirm_checked < 1.0:
                return self._confirm_codes
            confirming = [c.id for c in CASES if c.arming and c.arming.confirm_after_inquiry]
            with self._db.read() as session:
                rows = session.exec(
                    select(AcceptanceCase.case_values)
                    .join(AcceptanceRun, col(AcceptanceRun.id) == col(AcceptanceCase.run_id))
                    .where(
                        AcceptanceRun.status == RunStatus.RUNNING,
                        AcceptanceCase.status == CaseStatus.WAITING,
                        col(AcceptanceCase.case_id).in_(confirming),
                    )
                ).all()
            self._confirm_codes = frozenset(
                str(v["paymentCode"]) for v in (json.loads(r) for r in rows) if v.get("paymentCode")
            )
            self._confirm_checked = time.monotonic()
            return self._confirm_codes

    def _forget_confirmations(self) -> None:
        with self._confirm_lock:
            self._confirm_checked = 0.0


def _last_notification(session: Session) -> int:
    value = session.exec(select(func.max(Notification.id))).one()
    return int(value or 0)


def _notices(session: Session, client_id: str, after_id: int) -> tuple[Notice, ...]:
    rows = session.exec(
        select(Notification)
        .where(Notification.client_id == client_id, col(Notification.id) > after_id)
        .order_by(col(Notification.id))
        .limit(200)
    ).all()
    ids = [int(r.id or 0) for r in rows]
    attempts: dict[int, list[Attempt]] = {}
    if ids:
        for a in session.exec(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.notification_id).in_(ids))
            .order_by(col(DeliveryAttempt.notification_id), col(DeliveryAttempt.number))
        ).all():
            attempts.setdefault(a.notification_id, []).append(
                Attempt(a.number, a.http_status, a.acknowledged, a.response_body, a.error)
            )
    return tuple(
        Notice(int(r.id or 0), r.kind, r.payment_id, tuple(attempts.get(int(r.id or 0), []))) for r in rows
    )


def _downloads(session: Session, client_id: str, since: datetime) -> tuple[Download, ...]:
    app = session.get(Application, client_id)
    customer = app.customer_id if app is not None else ""
    rows = session.exec(
        select(ReportDownload)
        .where(
            (ReportDownload.client_id == client_id) | (ReportDownload.customer_id == customer),
            col(ReportDownload.at) >= since,
        )
        .order_by(col(ReportDownload.id))
        .limit(200)
    ).all()
    return tuple(Download(int(r.id or 0), r.kind, r.day, as_utc(r.at), r.channel) for r in rows)


def launch_blockers(db: Database, client_id: str) -> list[str]:
    """Why the application may not launch yet: none when its latest finished run passed every
    required case; else one reason per required case that did not pass (the go-live gate)."""
    with db.read() as session:
        run = session.exec(
            select(AcceptanceRun)
            .where(AcceptanceRun.client_id == client_id, AcceptanceRun.status == RunStatus.FINISHED)
            .order_by(col(AcceptanceRun.id).desc())
        ).first()
        if run is None:
            return ["no finished acceptance run: open one, exercise its cases, finish it"]
        rows = session.exec(
            select(AcceptanceCase)
            .where(AcceptanceCase.run_id == run.id)
            .order_by(col(AcceptanceCase.position))
        ).all()
    reasons: list[str] = []
    for row in rows:
        case = BY_ID.get(row.case_id)
        if case is not None and case.required and row.status != CaseStatus.PASSED:
            reasons.append(
                f"{case.id} {case.title} {row.status} in run {run.id}: {row.reason or ''}".rstrip(": ")
            )
    present = {r.case_id for r in rows}
    app_scenarios = _scenarios(db, client_id)
    for case in CASES:
        if case.required and applies(case, app_scenarios) and case.id not in present:
            reasons.append(f"{case.id} {case.title} was not part of run {run.id}")
    return reasons


def _scenarios(db: Database, client_id: str) -> list[str]:
    with db.read() as session:
        app = session.get(Application, client_id)
    return [s for s in (app.scenarios.split(",") if app else []) if s]
