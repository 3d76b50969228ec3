"""Control API for merchant registrations: list, detail, and choosing how a review ends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from ..control.router import PREFIX, CamelModel, RuntimeDep, require_admin
from .service import registration_view

router = APIRouter(
    prefix=f"{PREFIX}/registrations", tags=["registrations"], dependencies=[Depends(require_admin)]
)


class DecisionIn(CamelModel):
    outcome: Literal["APPROVED", "REJECTED"]
    reason: str | None = Field(default=None, min_length=1, max_length=256)
    # False: only choose the outcome; the review still ends when its review time is up.
    immediately: bool = True


@router.get("")
def list_registrations(
    rt: RuntimeDep,
    client_id: Annotated[str | None, Query(alias="clientId")] = None,
    status: Annotated[Literal["PENDING", "APPROVED", "REJECTED"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = rt.registrations.list(client_id=client_id, status=status, limit=limit)
    return {"registrations": [registration_view(r) for r in rows]}


@router.get("/{registration_id}")
def get_registration(registration_id: str, rt: RuntimeDep) -> dict[str, Any]:
    return registration_view(rt.registrations.get(registration_id))


@router.post("/{registration_id}/decision")
def decide(registration_id: str, body: DecisionIn, rt: RuntimeDep) -> dict[str, Any]:
    r = rt.registrations.decide(
        registration_id, outcome=body.outcome, reason=body.reason, immediately=body.immediately
    )
    # The notification of a review that just ended goes out before the call returns.
    rt.run_due()
    return registration_view(rt.registrations.get(r.registration_id))
