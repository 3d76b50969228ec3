"""Control API for payments and refunds: list them, read one with its refunds and timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ..clock import iso
from ..console.service import timeline_of
from ..control.router import PREFIX, RuntimeDep, require_admin
from .query import get_payment, list_payments, payment_public, refund_public

router = APIRouter(prefix=f"{PREFIX}/payments", tags=["payments"], dependencies=[Depends(require_admin)])


@router.get("")
def payments(
    rt: RuntimeDep,
    client_id: Annotated[str | None, Query(alias="clientId")] = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = list_payments(rt.db, client_id=client_id, status=status, limit=limit)
    return {"payments": [payment_public(p) for p in found]}


@router.get("/{payment_id}")
def payment(payment_id: str, rt: RuntimeDep, request: Request) -> dict[str, Any]:
    found, refunds = get_payment(rt.db, payment_id)
    events = timeline_of(rt, request.app.state.reconciliation, found, refunds)
    view = payment_public(found)
    view["refunds"] = [refund_public(r) for r in refunds]
    view["timeline"] = [
        {"at": iso(e.at), "kind": e.kind, "title": e.title, "detail": e.detail, "href": e.href}
        for e in events
    ]
    return view
