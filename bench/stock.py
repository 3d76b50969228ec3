"""Stock an emulator's database with many payments fast, straight into its tables (reset benchmark).

A real pay leaves a payment, its used payment code, a notification and a delivery attempt.
``Templates.read`` copies one such set, as the gateway wrote it, from the database;
``Templates.store`` inserts ``count`` copies with fresh keys in bulk (Core executemany on
SQLite, COPY on PostgreSQL, through ``bench/reports.py``'s loader), so a reset then has the
rows of that many real pays to delete. Not timed: it only prepares the state to reset.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reports import load
from sqlalchemy import Table, select

from emulator.notifications.models import DeliveryAttempt, Notification
from emulator.payments.models import Payment
from emulator.storage import Database
from emulator.wallet.models import PaymentCode

_PAYMENTS: Table = Payment.__table__  # type: ignore[attr-defined]
_CODES: Table = PaymentCode.__table__  # type: ignore[attr-defined]
_NOTIFICATIONS: Table = Notification.__table__  # type: ignore[attr-defined]
_ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[attr-defined]


class NoTemplate(RuntimeError):
    pass


@dataclass
class Templates:
    payment: dict[str, Any]
    code: dict[str, Any] | None
    notification: dict[str, Any] | None
    attempt: dict[str, Any] | None

    @classmethod
    def read(cls, db: Database) -> Templates:
        """One successful pay's rows, as the gateway stored them."""
        with db.engine.connect() as conn:
            payment = (
                conn.execute(
                    select(_PAYMENTS)
                    .where(_PAYMENTS.c.status == "SUCCESS", _PAYMENTS.c.payment_method_id.is_not(None))
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if payment is None:
                raise NoTemplate("no successful payment stored to copy")
            code = (
                conn.execute(select(_CODES).where(_CODES.c.code == payment["payment_method_id"]))
                .mappings()
                .first()
            )
            notification = (
                conn.execute(
                    select(_NOTIFICATIONS).where(_NOTIFICATIONS.c.payment_id == payment["payment_id"])
                )
                .mappings()
                .first()
            )
            attempt = None
            if notification is not None:
                attempt = (
                    conn.execute(select(_ATTEMPTS).where(_ATTEMPTS.c.notification_id == notification["id"]))
                    .mappings()
                    .first()
                )
        return cls(
            payment=dict(payment),
            code=dict(code) if code else None,
            notification=dict(notification) if notification else None,
            attempt=dict(attempt) if attempt else None,
        )

    def store(self, db: Database, count: int, *, batch: str) -> dict[str, Any]:
        """Insert ``count`` copies of the pay's rows; ``batch`` keeps keys of several calls apart."""
        started = time.perf_counter()
        rows = {"payments": self._load(db, _PAYMENTS, self.payment, count, self._payment_keys(batch))}
        if self.code is not None:
            rows["paymentCodes"] = self._load(db, _CODES, self.code, count, self._code_keys(batch))
        first_notification = 0
        if self.notification is not None:
            first_notification = self._next_id(db, _NOTIFICATIONS)
            rows["notifications"] = self._load(
                db,
                _NOTIFICATIONS,
                self.notification,
                count,
                self._notification_keys(batch, first_notification),
            )
        if self.attempt is not None and self.notification is not None:
            rows["deliveryAttempts"] = self._load(
                db, _ATTEMPTS, self.attempt, count, self._attempt_keys(first_notification)
            )
        return {"rows": rows, "seconds": round(time.perf_counter() - started, 2)}

    # Fresh keys per copy: every unique column gets a value of its own.

    @staticmethod
    def _payment_keys(batch: str) -> Iterator[dict[str, Any]]:
        for i in itertools.count():
            yield {
                "payment_id": f"2090BENCH{batch}{i:012d}",
                "payment_request_id": f"BENCH-S{batch}-{i:09d}",
                "payment_method_id": f"9{batch}{i:012d}"[:32],
                "reference_order_id": f"ORDER-S{batch}-{i}",
            }

    @staticmethod
    def _code_keys(batch: str) -> Iterator[dict[str, Any]]:
        for i in itertools.count():
            yield {"code": f"9{batch}{i:012d}"[:32]}

    @staticmethod
    def _notification_keys(batch: str, first: int) -> Iterator[dict[str, Any]]:
        for i in itertools.count():
            # Delivered, so the emulator's notifier leaves the copies alone.
            yield {
                "id": first + i,
                "payment_id": f"2090BENCH{batch}{i:012d}",
                "status": "DELIVERED",
                "attempts": 1,
                "next_attempt_at": None,
                "lease_until": None,
            }

    @staticmethod
    def _attempt_keys(first_notification: int) -> Iterator[dict[str, Any]]:
        for i in itertools.count():
            yield {"notification_id": first_notification + i}

    @staticmethod
    def _next_id(db: Database, table: Table) -> int:
        with db.engine.connect() as conn:
            rows = conn.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).first()
        return (int(rows[0]) if rows else 0) + 1_000_000

    @staticmethod
    def _load(
        db: Database, table: Table, template: dict[str, Any], count: int, keys: Iterator[dict[str, Any]]
    ) -> int:
        first = next(keys)
        # An autoincrement id is left to the database unless the keys give one.
        columns = tuple(c for c in template if c != "id" or "id" in first)
        rows = ({**template, **k} for k, _ in zip(itertools.chain([first], keys), range(count), strict=False))
        return load(db, table, columns, (tuple(r[c] for c in columns) for r in rows))
