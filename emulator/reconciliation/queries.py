"""The one query behind every report: a GMT+8 window's PAYMENT, REFUND and CANCEL rows.

Plain SQLAlchemy Core over the payment, refund and application tables, so a million rows
stream as tuples (no ORM objects) and sort in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)

from ..payments.models import Payment
from ..refunds.models import Refund
from ..sandbox.models import Application

PAYMENT, REFUND, CANCEL = "PAYMENT", "REFUND", "CANCEL"

_P = Payment.__table__  # type: ignore[attr-defined]
_R = Refund.__table__  # type: ignore[attr-defined]
_A = Application.__table__  # type: ignore[attr-defined]

# The times that make a transaction part of a day (each indexed, see models.py).
ACTIVITY_TIMES = (_P.c.paid_at, _P.c.cancelled_at, _R.c.refund_time)

_NULL = cast(null(), String)


def transactions(
    start: datetime, end: datetime, customers: list[str] | None, *, settled_by: datetime | None
) -> Select[Any]:
    """PAYMENT, CANCEL and REFUND rows with a time in ``[start, end)``, as one UNION ALL.

    Columns: customer, ordinal, kind, transaction id, original id, request id, original
    request id, reference id, description, reference merchant, reference store, method,
    psp customer, time, paid at, currency, amount (unsigned), settlement currency.

    ``settled_by`` (settlement batches): leave out payments cancelled by then.
    """
    p, r, a = _P, _R, _A
    # Money moved: the payment reached SUCCESS (paid_at set), whatever happened to it later. An
    # order code is "SUCCESS" with no paid_at while it waits to be scanned: not a payment yet.
    succeeded = and_(
        p.c.result_code == "SUCCESS",
        p.c.paid_at.is_not(None),
        p.c.status.in_(("SUCCESS", "CANCELLED")),
    )
    app_of_payment = p.outerjoin(a, a.c.client_id == p.c.client_id)

    def payment_side(kind: str, ordinal: int, ts: Any, *, original: bool) -> Select[Any]:
        # A CANCEL row is the payment's own id with originalTransactionId and
        # referenceTransactionId empty (both field tables: "empty" for CANCEL, spec §6.4).
        return select(
            p.c.merchant_customer_id.label("customer"),
            cast(literal_column(str(ordinal)), Integer).label("ordinal"),
            cast(literal_column(f"'{kind}'"), String).label("kind"),
            p.c.payment_id.label("txn_id"),
            _NULL.label("orig_id"),
            p.c.payment_request_id.label("request_id"),
            (p.c.payment_request_id if original else _NULL).label("orig_request_id"),
            (_NULL if original else p.c.reference_order_id).label("ref_txn"),
            p.c.order_description.label("description"),
            p.c.reference_merchant_id.label("ref_merchant"),
            p.c.reference_store_id.label("ref_store"),
            p.c.payment_method_type.label("method"),
            p.c.psp_customer_id.label("psp_customer"),
            ts.label("ts"),
            p.c.paid_at.label("paid_at"),
            p.c.currency.label("currency"),
            p.c.amount.label("amount"),
            func.coalesce(a.c.settlement_currency, p.c.currency).label("settle_ccy"),
        ).select_from(app_of_payment)

    payments = payment_side(PAYMENT, 0, p.c.paid_at, original=False).where(
        succeeded, p.c.paid_at >= start, p.c.paid_at < end
    )
    cancels = payment_side(CANCEL, 2, p.c.cancelled_at, original=True).where(
        succeeded, p.c.status == "CANCELLED", p.c.cancelled_at >= start, p.c.cancelled_at < end
    )
    if settled_by is not None:
        payments = payments.where(or_(p.c.cancelled_at.is_(None), p.c.cancelled_at > settled_by))
    refunds = (
        select(
            r.c.merchant_customer_id,
            cast(literal_column("1"), Integer),
            cast(literal_column(f"'{REFUND}'"), String),
            r.c.refund_id,
            r.c.payment_id,
            r.c.refund_request_id,
            p.c.payment_request_id,
            r.c.reference_refund_id,
            p.c.order_description,
            p.c.reference_merchant_id,
            p.c.reference_store_id,
            p.c.payment_method_type,
            p.c.psp_customer_id,
            r.c.refund_time,
            p.c.paid_at,
            r.c.currency,
            r.c.amount,
            func.coalesce(a.c.settlement_currency, r.c.currency),
        )
        .select_from(r.join(p, p.c.payment_id == r.c.payment_id).outerjoin(a, a.c.client_id == r.c.client_id))
        .where(r.c.status == "SUCCESS", r.c.refund_time >= start, r.c.refund_time < end)
    )
    if customers is not None:
        payments = payments.where(p.c.merchant_customer_id.in_(customers))
        cancels = cancels.where(p.c.merchant_customer_id.in_(customers))
        refunds = refunds.where(r.c.merchant_customer_id.in_(customers))
    return union_all(payments, refunds, cancels).subquery("txn").select()


def ordered(stmt: Select[Any], *, settlement: bool) -> Select[Any]:
    """Deterministic order: by merchant (and settlement currency), time, kind, id."""
    u = stmt.selected_columns
    keys = [u.customer] + ([u.settle_ccy] if settlement else []) + [u.ts, u.ordinal, u.txn_id]
    return stmt.order_by(*keys)
