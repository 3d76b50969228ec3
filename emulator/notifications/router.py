"""Control API for the notification outbox: list with attempts, resend now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from ..clock import iso
from ..control.router import PREFIX, CamelModel, RuntimeDep, require_admin

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


class TestIn(CamelModel):
    client_id: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2048)
    type: str = "PAYMENT_RESULT"
    body: dict[str, Any] | None = None


@router.post("/test")
def test_endpoint(body: TestIn, rt: RuntimeDep) -> dict[str, Any]:
    """Send one signed sample notification to ``url`` now and say how the endpoint did."""
    sent, result = rt.notifier.send_sample(
        client_id=body.client_id, url=body.url, kind=body.type, body=body.body
    )
    return {
        "url": result.url,
        "type": body.type,
        "requestTime": result.request_time,
        "sent": sent,
        "httpStatus": result.http_status,
        "latencyMs": round(result.latency_ms, 3),
        "body": result.body,
        "error": result.error,
        "acknowledged": result.acknowledged,
        "reason": result.why_not(),
    }
