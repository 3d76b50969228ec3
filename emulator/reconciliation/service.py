"""Generate the reconciliation files from stored transactions, streamed; no HTTP here.

What goes into the files (spec §6.4, issue #5):
* Transaction details of day T: every successful PAYMENT (at its payment time), REFUND
  (negative, ``originalTransactionId`` = the payment) and CANCEL of a successful payment
  (negative, at its cancel time, ``originalTransactionId`` and ``referenceTransactionId``
  empty) whose time falls in T, 00:00:00-23:59:59 GMT+8. Rows are
  filed under the merchant (``customerId``) the transaction was for, so an ISV's
  transactions land in its merchant's folder. A cancelled order that never succeeded moved no
  money and appears nowhere.
* Settlement batch of settlement date S: the PAYMENT and REFUND rows of the transaction days S
  settles, per merchant and settlement currency, each with the fixed fee (0 for a REFUND, as
  in the 2024 sample), converted at the configured quote. A payment cancelled before its batch settles (the usual case: the cancel
  window closes at 00:15 on T+1, the batch settles at the file time on T+1 or later) is not
  settled, and neither is its CANCEL; a payment cancelled after its batch settled has its
  CANCEL settled, negative, in the batch of the cancel day. Both follow from stored times
  only, so regenerating a batch gives the same bytes.

Memory stays flat: one ordered query per report, read with ``yield_per`` (a server-side cursor
on PostgreSQL), each row written as it arrives; the summary is a handful of running sums.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session
from sqlmodel import select as sm_select

from ..clock import Clock, DueEvent, as_utc, business_day_end, iso
from ..errors import ControlError
from ..sandbox.models import AgentToken, Application
from ..settings import Settings
from ..storage import Database
from . import formats
from .formats import (
    EMPTY_BATCH_ID,
    SETTLEMENT_ITEMS,
    SETTLEMENT_ITEMS_COLUMNS,
    SETTLEMENT_SUMMARY,
    SETTLEMENT_SUMMARY_COLUMNS,
    TRANSACTION_ITEMS,
    TRANSACTION_ITEMS_COLUMNS,
    AmountFormat,
    ReportWriter,
)
from .fx import Conversion, Quote, conversion, parse_quotes
from .models import EPOCH, SETTLEMENT, TRANSACTIONS, ReportDownload, ReportMark
from .queries import ACTIVITY_TIMES, CANCEL, PAYMENT, REFUND, ordered, transactions
from .schedule import Calendar, day_start, day_window, local_day

PRODUCT_CODE = "IN_STORE_PAYMENT"
# Same wallet name the gateway answers in pspCustomerInfo (emulator/payments/api.py).
PSP_NAME = "ALIPAY_CN"
_STREAM_BATCH = 5000
_SUMMARY_ORDER = (PAYMENT, REFUND, CANCEL)


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A report on disk; ``path`` is relative to the data directory, ``/``-separated."""

    path: str
    customer_id: str
    date: str
    name: str
    type: str
    size: int
    rows: int | None = None

    def public(self) -> dict[str, Any]:
        """The control API's view (camelCase, with the download URL)."""
        view: dict[str, Any] = {
            "path": self.path,
            "customerId": self.customer_id,
            "date": self.date,
            "name": self.name,
            "type": self.type,
            "size": self.size,
            "url": f"/_emulator/reconciliation/files/{self.path}",
        }
        if self.rows is not None:
            view["rows"] = self.rows
        return view


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One line of a report file that mentions a transaction."""

    file: ReportFile
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class RunResult:
    day: date
    settlement_date: date
    files: list[ReportFile]

    def public(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "settlementDate": self.settlement_date.isoformat(),
            "files": [f.public() for f in self.files],
        }


@dataclass(frozen=True, slots=True)
class SftpAccount:
    """An SFTP login: its home folder's customer and every customer folder it may read."""

    username: str
    home: str
    customer_ids: frozenset[str]
    client_id: str | None = None


@dataclass
class _Totals:
    count: int = 0
    settlement: int = 0
    fee: int = 0

    def add(self, settlement: int, fee: int) -> None:
        self.count += 1
        self.settlement += settlement
        self.fee += fee


@dataclass
class _Batch:
    customer_id: str
    currency: str
    batch_id: str
    writer: ReportWriter
    totals: dict[str, _Totals] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.customer_id, self.currency)


def settlement_batch_id(*, customer_id: str, currency: str, settlement_date: date) -> str:
    """19 digits like ``2018122611021040123``: the settlement date, then 11 stable digits."""
    digest = hashlib.sha256(f"{customer_id}|{currency}|{settlement_date}".encode()).digest()
    return f"{formats.ymd(settlement_date)}{int.from_bytes(digest[:8], 'big') % 10**11:011d}"


class ReconciliationService:
    def __init__(self, *, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._data_dir = settings.data_dir
        self._quotes: dict[tuple[str, str], Quote] = parse_quotes(settings.reconciliation_fx_quotes)
        self._amount = AmountFormat(major_units=settings.reconciliation_major_units)
        self._fee = settings.reconciliation_fee
        self._acquirer = settings.reconciliation_acquirer
        self.calendar = Calendar(
            settlement_days=settings.reconciliation_settlement_days,
            settle_weekends=settings.reconciliation_settle_weekends,
            delay=timedelta(minutes=settings.reconciliation_delay_minutes),
        )
        # One generation at a time in this process (the ticker, clock calls, manual runs).
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return formats.reports_root(self._data_dir)

    def check_configuration(self) -> None:
        """Fail at start-up if an application settles in a currency no quote converts to."""
        with self._db.read() as session:
            for app in session.exec(sm_select(Application)).all():
                conversion(self._quotes, source=app.test_currency, target=app.settlement_currency)

    # -- entry points ----------------------------------------------------------------------

    def run(self, *, day: date, client_id: str | None = None) -> RunResult:
        """Write ``day``'s transaction details and the settlement batch that settles ``day``.

        ``client_id`` limits the run to the merchants that application's reports belong to
        (its own customer ID; for an ISV, also the merchants it acts for).
        """
        settlement = self.calendar.settlement_date(day)
        with self._lock:
            self._ensure_epoch()
            customers = None
            if client_id is not None:
                with self._db.read() as session:
                    app = session.get(Application, client_id)
                    if app is None:
                        raise ControlError(404, f"no application with client ID {client_id!r}")
                    customers = self._customers_of(session, app)
            files = self._transaction_items(day, customers)
            files += self._settlement(settlement, customers)
        return RunResult(day=day, settlement_date=settlement, files=files)

    def run_due(self, now: datetime) -> None:
        """The due-work hook: write every day and batch that became due by ``now``, once."""
        if not self._settings.reconciliation_auto:
            return
        with self._lock:
            self._ensure_epoch()
            self._catch_up_transactions(now)
            self._catch_up_settlement(now)

    def on_reset(self, client_id: str | None) -> None:
        """The reset hook: a full reset empties the report folder; resetting one application
        rewrites the reports already on disk for its merchants from what the database holds
        now (its transactions are gone; another application's in the same folder stay)."""
        with self._lock:
            if client_id is None:
                shutil.rmtree(self.root, ignore_errors=True)
                return
            with self._db.read() as session:
                app = session.get(Application, client_id)
                customers = self._customers_of(session, app) if app is not None else []
            for customer in customers:
                folder = formats.customer_folder(self._data_dir, customer)
                if not folder.is_dir():
                    continue
                for day_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
                    try:
                        day = formats.parse_day(day_folder.name)
                    except ValueError:
                        continue
                    kinds = {formats.report_type(p.name) for p in day_folder.iterdir()}
                    if TRANSACTION_ITEMS in kinds:
                        self._transaction_items(day, [customer])
                    if kinds & {SETTLEMENT_ITEMS, SETTLEMENT_SUMMARY}:
                        self._settlement(day, [customer])

    def list_files(self, *, customer_id: str | None = None, day: date | None = None) -> list[ReportFile]:
        """Finished reports on disk (never ``.tmp``), by customer, date and name."""
        with self._lock:
            self._ensure_epoch()
        out: list[ReportFile] = []
        if not self.root.is_dir():
            return out
        for customer in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if customer_id is not None and customer.name != customer_id:
                continue
            for folder in sorted(p for p in customer.iterdir() if p.is_dir()):
                if day is not None and folder.name != formats.ymd(day):
                    continue
                for path in sorted(folder.iterdir()):
                    kind = formats.report_type(path.name)
                    if kind is None or not path.is_file():
                        continue
                    out.append(self._describe(path, kind))
        return out

    def file_path(self, relative: str) -> Path:
        """The finished report at ``v1/settlements/<customerId>/<yyyyMMdd>/<name>``.

        Anything else (traversal, other folders of the data directory, ``.tmp`` files) is
        ``FileNotFoundError``, indistinguishable from a missing report.
        """
        parts = PurePosixPath(relative.lstrip("/")).parts
        if (
            len(parts) != 5
            or parts[:2] != formats.ROOT
            or not parts[3].isdigit()
            or formats.report_type(parts[4]) is None
        ):
            raise FileNotFoundError(relative)
        try:
            path = formats.customer_folder(self._data_dir, parts[2]) / parts[3] / parts[4]
        except ValueError as exc:
            raise FileNotFoundError(relative) from exc
        if not path.resolve().is_relative_to(self.root.resolve()) or not path.is_file():
            raise FileNotFoundError(relative)
        return path

    def sftp_account(self, username: str, password: str) -> SftpAccount | None:
        """The account for these credentials (an application's ``sftp`` block), or None."""
        with self._db.read() as session:
            app = session.exec(sm_select(Application).where(Application.sftp_username == username)).first()
            expected = app.sftp_password if app is not None else "\x00" * 16
            # Compare even for unknown users, so timing does not tell which usernames exist.
            if not hmac.compare_digest(expected.encode(), password.encode()) or app is None:
                return None
            return SftpAccount(
                username=username,
                home=app.customer_id,
                customer_ids=frozenset(self._customers_of(session, app)),
                client_id=app.client_id,
            )

    def record_download(self, relative: str, *, channel: str, client_id: str | None = None) -> None:
        """Note that a finished report (``v1/settlements/<customer>/<yyyyMMdd>/<name>``) was read."""
        parts = PurePosixPath(relative.lstrip("/")).parts
        if len(parts) != 5 or (kind := formats.report_type(parts[4])) is None:
            return
        with self._db.write() as session:
            session.add(
                ReportDownload(
                    at=self._clock.now(),
                    channel=channel,
                    client_id=client_id,
                    customer_id=parts[2],
                    day=parts[3],
                    name=parts[4],
                    kind=kind,
                )
            )

    def rows_mentioning(self, *, customer_id: str, needles: list[str], limit: int = 50) -> list[ReportRow]:
        """Lines of ``customer_id``'s reports that mention any of ``needles`` (a payment's ids),
        with file and 1-based line number, for a payment's timeline."""
        wanted = [n for n in needles if n]
        out: list[ReportRow] = []
        if not wanted:
            return out
        for report in self.list_files(customer_id=customer_id):
            path = self._data_dir / report.path
            with path.open(encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle, start=1):
                    if any(n in line for n in wanted):
                        out.append(ReportRow(report, number, line.rstrip("\r\n")))
                        if len(out) >= limit:
                            return out
        return out

    def next_events(self, now: datetime) -> list[DueEvent]:
        """The next report cut-off (end of the GMT+8 business day), the next transaction-details
        file and the next settlement batch."""
        today = local_day(now)
        cut_off = business_day_end(now)
        events = [
            DueEvent(cut_off, "report cut-off", f"transactions of {today} are cut off at 23:59:59 GMT+8")
        ]
        if not self._settings.reconciliation_auto:
            return events
        day = today if self.calendar.due_at(today) > now else today + timedelta(days=1)
        events.append(
            DueEvent(
                self.calendar.due_at(day),
                "transaction details",
                f"the transaction details of {day - timedelta(days=1)} are written",
            )
        )
        settlement = day
        for _ in range(8):
            if self.calendar.transaction_days(settlement) is not None:
                break
            settlement += timedelta(days=1)
        events.append(
            DueEvent(self.calendar.due_at(settlement), "settlement", f"the settlement batch of {settlement}")
        )
        return events

    # -- schedule --------------------------------------------------------------------------

    def _catch_up_transactions(self, now: datetime) -> None:
        due = self.calendar.items_due_through(now)
        mark = self._mark(TRANSACTIONS)
        if mark is not None and mark >= due:
            return
        start = mark + timedelta(days=1) if mark is not None else self._first_activity_day()
        if start is not None:
            for day in self._days(start, due):
                self._transaction_items(day, None)
                self._set_mark(TRANSACTIONS, day, now)
        self._set_mark(TRANSACTIONS, due, now)

    def _catch_up_settlement(self, now: datetime) -> None:
        due = self.calendar.settlement_due_through(now)
        mark = self._mark(SETTLEMENT)
        if mark is not None and mark >= due:
            return
        if mark is not None:
            start: date | None = self.calendar.last_day_settled_by(mark) + timedelta(days=1)
        else:
            start = self._first_activity_day()
        if start is not None:
            last = self.calendar.last_day_settled_by(due)
            done: date | None = mark
            for day in self._days(start, last):
                settlement = self.calendar.settlement_date(day)
                if done is not None and settlement <= done:
                    continue  # that batch already covered this day
                self._settlement(settlement, None)
                self._set_mark(SETTLEMENT, settlement, now)
                done = settlement
        self._set_mark(SETTLEMENT, due, now)

    def _days(self, first: date, last: date) -> Iterator[date]:
        """The transaction days to write in ``first..last``: the active ones, or every day
        when empty files are wanted."""
        span = (last - first).days + 1
        if span <= 0:
            return
        if self._settings.reconciliation_empty_files:
            for offset in range(span):
                yield first + timedelta(days=offset)
            return
        cursor = first
        for _ in range(span):  # each step moves at least one day forward
            if cursor > last:
                return
            nxt = self._next_activity(day_start(cursor))
            if nxt is None or local_day(nxt) > last:
                return
            day = local_day(nxt)
            yield day
            cursor = day + timedelta(days=1)

    def _first_activity_day(self) -> date | None:
        first = self._next_activity(None)
        return local_day(first) if first is not None else None

    def _next_activity(self, after: datetime | None) -> datetime | None:
        """The earliest payment, cancel or refund time at or after ``after`` (indexed)."""
        found: list[datetime] = []
        with self._db.read() as session:
            for column in ACTIVITY_TIMES:
                stmt = select(func.min(column))
                if after is not None:
                    stmt = stmt.where(column >= after)
                value = session.execute(stmt).scalar()
                if value is not None:
                    found.append(as_utc(value))
        return min(found) if found else None

    def _mark(self, kind: str) -> date | None:
        with self._db.read() as session:
            row = session.get(ReportMark, kind)
            return row.through if row is not None else None

    def _set_mark(self, kind: str, through: date, now: datetime) -> None:
        with self._db.write() as session:
            row = session.get(ReportMark, kind) or ReportMark(kind=kind, updated_at=now)
            row.through = through
            row.updated_at = now
            session.add(row)

    def _ensure_epoch(self) -> None:
        """A database without the epoch mark is a fresh world (first start, or ``reset``):
        the report folder still holds the previous world's files, so it starts empty."""
        with self._db.read() as session:
            if session.get(ReportMark, EPOCH) is not None:
                return
        shutil.rmtree(self.root, ignore_errors=True)
        with self._db.write() as session:
            if session.get(ReportMark, EPOCH) is None:
                session.add(ReportMark(kind=EPOCH, through=None, updated_at=self._clock.now()))

    # -- who -------------------------------------------------------------------------------

    @staticmethod
    def _customers_of(session: Session, app: Application) -> list[str]:
        customers = {app.customer_id}
        if app.role == "ISV":
            if app.test_merchant_customer_id:
                customers.add(app.test_merchant_customer_id)
            customers.update(
                session.exec(
                    sm_select(AgentToken.merchant_customer_id).where(
                        AgentToken.isv_client_id == app.client_id
                    )
                ).all()
            )
        return sorted(customers)

    def _known_customers(self) -> dict[str, str]:
        """Every merchant the sandbox knows, with the settlement currency of its application."""
        known: dict[str, str] = {}
        with self._db.read() as session:
            for app in session.exec(sm_select(Application)).all():
                for customer in self._customers_of(session, app):
                    known.setdefault(customer, app.settlement_currency)
        return known

    def _scope(self, customers: list[str] | None) -> dict[str, str]:
        """The merchants a run answers for: the requested ones, or all known and on disk."""
        known = self._known_customers()
        if customers is not None:
            return {c: known.get(c, "") for c in customers}
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.is_dir():
                    known.setdefault(folder.name, "")
        return known

    # -- transaction details ---------------------------------------------------------------

    def _transaction_items(self, day: date, customers: list[str] | None) -> list[ReportFile]:
        start, end = day_window(day)
        stmt = ordered(transactions(start, end, customers, settled_by=None), settlement=False)
        written: dict[str, ReportFile] = {}
        writer: ReportWriter | None = None
        current = ""
        name = formats.transaction_items_name(day)
        amount = self._amount
        try:
            with self._db.read() as session:
                for row in session.execute(stmt.execution_options(yield_per=_STREAM_BATCH)):
                    customer = row[0]
                    if writer is None or customer != current:
                        if writer is not None:
                            written[current] = self._finish(writer, current, day, TRANSACTION_ITEMS)
                        current = customer
                        writer = ReportWriter(
                            formats.day_folder(self._data_dir, customer, day) / name,
                            TRANSACTION_ITEMS_COLUMNS,
                        )
                    writer.write(self._item(row, amount))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            written[current] = self._finish(writer, current, day, TRANSACTION_ITEMS)
        for customer in self._scope(customers):
            if customer in written:
                continue
            path = formats.day_folder(self._data_dir, customer, day) / name
            if self._settings.reconciliation_empty_files:
                with ReportWriter(path, TRANSACTION_ITEMS_COLUMNS) as empty:
                    pass
                written[customer] = self._finish_closed(empty, customer, day, TRANSACTION_ITEMS)
            else:
                path.unlink(missing_ok=True)  # a stale file of a previous generation
        return [written[c] for c in sorted(written)]

    def _item(self, row: Any, amount: AmountFormat) -> list[str]:
        (
            customer, _ordinal, kind, txn_id, orig_id, request_id, orig_request_id, ref_txn,
            description, ref_merchant, ref_store, method, psp_customer, ts, _paid_at, currency,
            value, _settle_currency,
        ) = row  # fmt: skip
        signed = value if kind == PAYMENT else -value
        return [
            customer, self._acquirer, "", ref_merchant or "", ref_store or "", txn_id,
            orig_id or "", request_id, ref_txn or "", description or "", method,
            PSP_NAME if psp_customer else "", kind, iso(as_utc(ts)), PRODUCT_CODE,
            amount(currency, signed), currency, orig_request_id or "", "", "", "",
        ]  # fmt: skip

    # -- settlement ------------------------------------------------------------------------

    def _settlement(self, settlement: date, customers: list[str] | None) -> list[ReportFile]:
        days = self.calendar.transaction_days(settlement)
        settle_at = self.calendar.due_at(settlement)
        settlement_time = iso(settle_at)
        written: dict[str, list[ReportFile]] = {}
        if days is not None:
            start, end = day_window(*days)
            query = transactions(start, end, customers, settled_by=settle_at)
            for batch in self._batches(ordered(query, settlement=True), settlement, settlement_time):
                written.setdefault(batch.customer_id, []).extend(
                    self._close_batch(batch, settlement, settlement_time)
                )
        empty_files = self._settings.reconciliation_empty_files
        for customer, currency in self._scope(customers).items():
            if empty_files and customer not in written and days is not None and currency:
                writer = self._batch_writer(customer, currency, EMPTY_BATCH_ID, settlement)
                empty = _Batch(customer, currency, EMPTY_BATCH_ID, writer)
                written[customer] = self._close_batch(empty, settlement, settlement_time)
            keep = {f.name for f in written.get(customer, [])}
            self._remove_stale_settlement(customer, settlement, keep)
        return [f for c in sorted(written) for f in written[c]]

    def _batches(self, stmt: Select[Any], settlement: date, settlement_time: str) -> Iterator[_Batch]:
        """Stream the rows into one items file per merchant and settlement currency; yields
        each batch when its last row is written (the caller closes it)."""
        batch: _Batch | None = None
        conversions: dict[tuple[str, str], Conversion] = {}
        try:
            with self._db.read() as session:
                for row in session.execute(stmt.execution_options(yield_per=_STREAM_BATCH)):
                    if row[2] == CANCEL and not self._cancel_settles(row):
                        continue
                    customer, currency, settle_ccy = row[0], row[15], row[17]
                    if batch is None or batch.key != (customer, settle_ccy):
                        if batch is not None:
                            yield batch
                        batch = self._open_batch(customer, settle_ccy, settlement)
                    conv = conversions.get((currency, settle_ccy))
                    if conv is None:
                        conv = conversion(self._quotes, source=currency, target=settle_ccy)
                        conversions[(currency, settle_ccy)] = conv
                    batch.writer.write(self._settlement_item(row, batch, conv, settlement_time))
        except BaseException:
            if batch is not None:
                batch.writer.abort()
            raise
        if batch is not None:
            yield batch

    def _cancel_settles(self, row: Any) -> bool:
        """A CANCEL settles only if its payment was settled before the cancel happened."""
        paid_at, cancelled_at = as_utc(row[14]), as_utc(row[13])
        paid_batch = self.calendar.settlement_date(local_day(paid_at))
        return cancelled_at > self.calendar.due_at(paid_batch)

    def _batch_writer(self, customer: str, currency: str, batch_id: str, settlement: date) -> ReportWriter:
        return ReportWriter(
            formats.day_folder(self._data_dir, customer, settlement)
            / formats.settlement_items_name(currency, batch_id),
            SETTLEMENT_ITEMS_COLUMNS,
        )

    def _open_batch(self, customer: str, currency: str, settlement: date) -> _Batch:
        batch_id = settlement_batch_id(customer_id=customer, currency=currency, settlement_date=settlement)
        return _Batch(
            customer,
            currency,
            batch_id,
            self._batch_writer(customer, currency, batch_id, settlement),
        )

    def _settlement_item(self, row: Any, batch: _Batch, conv: Conversion, settlement_time: str) -> list[str]:
        (
            customer, _ordinal, kind, txn_id, orig_id, request_id, orig_request_id, ref_txn,
            _description, ref_merchant, ref_store, method, psp_customer, ts, _paid_at, currency,
            value, settle_ccy,
        ) = row  # fmt: skip
        sign = 1 if kind == PAYMENT else -1
        # A refund is not charged the fee again (the 2024 sample: REFUND rows carry fee 0).
        fee = 0 if kind == REFUND else self._fee
        net = sign * conv.convert(value) - fee
        totals = batch.totals.get(kind)
        if totals is None:
            totals = batch.totals[kind] = _Totals()
        totals.add(net, fee)
        amount = self._amount
        quote = conv.quote
        return [
            batch.batch_id, self._acquirer, customer, "", ref_merchant or "", ref_store or "",
            txn_id, orig_id or "", request_id, ref_txn or "", method,
            PSP_NAME if psp_customer else "", kind, iso(as_utc(ts)), settlement_time,
            PRODUCT_CODE, amount(currency, sign * value), currency, amount(settle_ccy, net),
            settle_ccy, quote.pair if quote else "", quote.text if quote else "",
            amount(settle_ccy, fee), settle_ccy, "", "", "", "", orig_request_id or "",
            "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
        ]  # fmt: skip

    def _close_batch(self, batch: _Batch, settlement: date, settlement_time: str) -> list[ReportFile]:
        """Finish the items file, then write the summary that ties out to it."""
        items = self._finish(batch.writer, batch.customer_id, settlement, SETTLEMENT_ITEMS)
        total = _Totals()
        for kind_totals in batch.totals.values():
            total.count += kind_totals.count
            total.settlement += kind_totals.settlement
            total.fee += kind_totals.fee
        rows = [("TOTAL", total)] + [(k, batch.totals[k]) for k in _SUMMARY_ORDER if k in batch.totals]
        path = formats.day_folder(
            self._data_dir, batch.customer_id, settlement
        ) / formats.settlement_summary_name(batch.currency, batch.batch_id)
        ccy, amount = batch.currency, self._amount
        with ReportWriter(path, SETTLEMENT_SUMMARY_COLUMNS) as summary:
            for summary_type, t in rows:
                line = [batch.batch_id, batch.customer_id, self._acquirer, summary_type]
                line += [settlement_time, str(t.count), amount(ccy, t.settlement), ccy]
                line += [amount(ccy, t.fee), ccy]
                summary.write(line + [""] * (len(SETTLEMENT_SUMMARY_COLUMNS) - len(line)))
        return [
            items,
            self._finish_closed(summary, batch.customer_id, settlement, SETTLEMENT_SUMMARY),
        ]

    def _remove_stale_settlement(self, customer: str, settlement: date, keep: set[str]) -> None:
        folder = formats.day_folder(self._data_dir, customer, settlement)
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            kind = formats.report_type(path.name)
            if kind in (SETTLEMENT_ITEMS, SETTLEMENT_SUMMARY) and path.name not in keep:
                path.unlink(missing_ok=True)

    # -- files -----------------------------------------------------------------------------

    def _finish(self, writer: ReportWriter, customer: str, day: date, kind: str) -> ReportFile:
        writer.close()
        return self._finish_closed(writer, customer, day, kind)

    def _finish_closed(self, writer: ReportWriter, customer: str, day: date, kind: str) -> ReportFile:
        described = self._describe(writer.path, kind)
        return ReportFile(
            path=described.path,
            customer_id=customer,
            date=formats.ymd(day),
            name=described.name,
            type=kind,
            size=described.size,
            rows=writer.rows,
        )

    def _describe(self, path: Path, kind: str) -> ReportFile:
        relative = path.relative_to(self._data_dir).as_posix()
        return ReportFile(
            path=relative,
            customer_id=path.parent.parent.name,
            date=path.parent.name,
            name=path.name,
            type=kind,
            size=path.stat().st_size,
        )
