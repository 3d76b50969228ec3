"""Control API for acceptance runs: open, read (JSON or JUnit), start a case, finish."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from ..control.router import PREFIX, CamelModel, require_admin
from .service import AcceptanceService

router = APIRouter(prefix=f"{PREFIX}/acceptance", tags=["acceptance"], dependencies=[Depends(require_admin)])


def service(request: Request) -> AcceptanceService:
    svc: AcceptanceService = request.app.state.acceptance
    return svc


ServiceDep = Annotated[AcceptanceService, Depends(service)]


class RunIn(CamelModel):
    client_id: str = Field(min_length=1, max_length=64)
    cases: list[str] | None = None


@router.post("/runs", status_code=201)
def open_run(body: RunIn, svc: ServiceDep) -> dict[str, Any]:
    return svc.create_run(client_id=body.client_id, cases=body.cases).public()


@router.get("/runs")
def list_runs(
    svc: ServiceDep,
    client_id: Annotated[str, Query(alias="clientId", min_length=1)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    return {"runs": [r.public() for r in svc.runs(client_id=client_id, limit=limit)]}


@router.get("/runs/{run_id}", response_model=None)
def get_run(
    run_id: int, svc: ServiceDep, format: Annotated[str, Query(pattern="^(json|junit)$")] = "json"
) -> dict[str, Any] | Response:
    view = svc.run(run_id)
    if format == "junit":
        return Response(view.junit(), media_type="application/xml")
    return view.public()


@router.post("/runs/{run_id}/cases/{case_id}/start")
def start_case(run_id: int, case_id: str, svc: ServiceDep) -> dict[str, Any]:
    return svc.start_case(run_id, case_id).public()


@router.post("/runs/{run_id}/finish")
def finish_run(run_id: int, svc: ServiceDep) -> dict[str, Any]:
    return svc.finish(run_id).public()
