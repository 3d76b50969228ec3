"""Acceptance pages: the runs of an application, and a run with its cases, grades and evidence."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..errors import ControlError
from ..web.layout import NavItem, render
from ..web.security import Csrf, PageSession
from .cases import BY_ID
from .service import AcceptanceService

router = APIRouter(include_in_schema=False)
NAV = [NavItem("Developer Center", "Acceptance", "/acceptance")]


def _service(request: Request) -> AcceptanceService:
    svc: AcceptanceService = request.app.state.acceptance
    return svc


def _applications(request: Request) -> list[dict[str, Any]]:
    apps: list[dict[str, Any]] = request.app.state.runtime.resources()["applications"]
    return apps


@router.get("/acceptance")
def index(request: Request, _session: PageSession) -> Response:
    svc = _service(request)
    items = []
    for app in _applications(request):
        latest = svc.runs(client_id=app["clientId"], limit=1)
        items.append({**app, "latest": latest[0].public() if latest else None})
    return render(request, "acceptance/index.html", title="Testing and acceptance", applications=items)


@router.get("/applications/{client_id}/acceptance")
def runs_page(client_id: str, request: Request, _session: PageSession) -> Response:
    app = next((a for a in _applications(request) if a["clientId"] == client_id), None)
    if app is None:
        return render(
            request,
            "acceptance/index.html",
            status_code=404,
            title="Testing and acceptance",
            applications=[],
            error=f"No application with client ID {client_id}.",
        )
    runs = [r.public() for r in _service(request).runs(client_id=client_id)]
    return render(
        request,
        "acceptance/runs.html",
        title=f"Acceptance: {app['name']}",
        client_id=client_id,
        name=app["name"],
        runs=runs,
    )


@router.post("/applications/{client_id}/acceptance/runs")
def open_run(client_id: str, request: Request, _session: PageSession, _csrf: Csrf) -> Response:
    run = _service(request).create_run(client_id=client_id)
    return RedirectResponse(f"/acceptance/runs/{run.id}", status_code=303)


def _run_page(request: Request, run_id: int, *, status_code: int = 200, **context: Any) -> Response:
    view = _service(request).run(run_id).public()
    return render(
        request,
        "acceptance/run.html",
        status_code=status_code,
        title=f"Acceptance run {run_id}",
        run=view,
        **context,
    )


@router.get("/acceptance/runs/{run_id}")
def run_page(run_id: int, request: Request, _session: PageSession, started: str = "") -> Response:
    flash = f"{started} started: follow its instruction now." if started in BY_ID else None
    return _run_page(request, run_id, flash=flash)


@router.get("/acceptance/runs/{run_id}/cases")
def cases_fragment(run_id: int, request: Request, _session: PageSession) -> Response:
    return render(request, "acceptance/cases.html", run=_service(request).run(run_id).public())


@router.get("/acceptance/runs/{run_id}/junit.xml")
def junit(run_id: int, request: Request, _session: PageSession) -> Response:
    body = _service(request).run(run_id).junit()
    headers = {"content-disposition": f'attachment; filename="acceptance-run-{run_id}.xml"'}
    return Response(body, media_type="application/xml", headers=headers)


@router.post("/acceptance/runs/{run_id}/cases/{case_id}/start")
def start_case(run_id: int, case_id: str, request: Request, _session: PageSession, _csrf: Csrf) -> Response:
    try:
        _service(request).start_case(run_id, case_id)
    except ControlError as exc:
        return _run_page(request, run_id, status_code=exc.status_code, error=exc.message)
    return RedirectResponse(f"/acceptance/runs/{run_id}?started={case_id}#case-{case_id}", status_code=303)


@router.post("/acceptance/runs/{run_id}/finish")
def finish(run_id: int, request: Request, _session: PageSession, _csrf: Csrf) -> Response:
    _service(request).finish(run_id)
    return RedirectResponse(f"/acceptance/runs/{run_id}", status_code=303)
