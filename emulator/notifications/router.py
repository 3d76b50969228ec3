"""Control API for the notification outbox: list with attempts, resend now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ..clock import iso
from ..control.router import PREFIX, RuntimeDep, require_admin

router = APIRouter(
    prefix=f"{PREFIX}/notifications", tags=["notifications"], dependencies=[Depends(require_admin)]
)


@router.get("")
def list_notifications(
    rt: RuntimeDep,
    client_id: Annotated[str | None, Query(alias="clientId")] = None,
    payment_id: Annotated[str | None, Query(alias="paymentId")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"notifications": rt.notifier.list(client_id=client_id, payment_id=payment_id, limit=limit)}


@router.post("/{notification_id}/resend")
def resend(notification_id: int, rt: RuntimeDep) -> dict[str, Any]:
    attempt = rt.notifier.resend(notification_id)
    return {
        "number": attempt.number,
        "at": iso(attempt.at),
        "httpStatus": attempt.http_status,
        "acknowledged": attempt.acknowledged,
        "error": attempt.error,
    }
