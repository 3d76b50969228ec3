"""Control API for the reconciliation files: run a day on demand, list and download reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..control.router import PREFIX, require_admin
from ..errors import ControlError
from .formats import parse_day
from .service import ReconciliationService

router = APIRouter(
    prefix=f"{PREFIX}/reconciliation",
    tags=["reconciliation"],
    dependencies=[Depends(require_admin)],
)


def service(request: Request) -> ReconciliationService:
    svc: ReconciliationService = request.app.state.reconciliation
    return svc


ServiceDep = Annotated[ReconciliationService, Depends(service)]


def _day(value: str, field: str) -> date:
    try:
        return parse_day(value)
    except ValueError as exc:
        raise ControlError(422, f"{field}: {exc}") from exc


class RunIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    date: str = Field(description="the transaction date (GMT+8), YYYY-MM-DD")
    client_id: str | None = None


@router.post("/run")
def run(body: RunIn, svc: ServiceDep) -> dict[str, Any]:
    return svc.run(day=_day(body.date, "date"), client_id=body.client_id).public()


@router.get("/files")
def list_files(
    svc: ServiceDep,
    customer_id: Annotated[str | None, Query(alias="customerId")] = None,
    day: Annotated[str | None, Query(alias="date")] = None,
) -> dict[str, Any]:
    parsed = _day(day, "date") if day else None
    return {"files": [f.public() for f in svc.list_files(customer_id=customer_id, day=parsed)]}


@router.get("/files/{path:path}")
def download(path: str, svc: ServiceDep) -> FileResponse:
    try:
        found = svc.file_path(path)
    except FileNotFoundError as exc:
        raise ControlError(404, f"no report {path!r} (see GET {PREFIX}/reconciliation/files)") from exc
    svc.record_download(path, channel="http")
    return FileResponse(found, media_type="text/csv; charset=utf-8", filename=found.name)
