"""The sandbox console's pages under ``/console``: thin handlers over the services.

Request log, notifications, payments with timelines, the buyer's wallet, scenarios and faults,
the clock, reconciliation files. Every form posts with a CSRF token and answers with a redirect
(and a flash line) or the page again with the error and a 4xx status.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from ..amounts import MINOR_UNITS
from ..clock import iso
from ..control.router import RuntimeDep
from ..control.simulation import API_NAMES, FAULT_KINDS, SimulationError, make_fault, make_scenario
from ..errors import CATALOGUE, ControlError
from ..payments.query import STATUSES, get_payment, list_payments, waiting_for_buyer
from ..reconciliation.formats import parse_day
from ..reconciliation.schedule import local_day
from ..reconciliation.service import ReconciliationService
from ..registrations.service import registration_view
from ..runtime import Runtime
from ..sandbox import service as sandbox
from ..wallet.barcode import code128_svg
from ..wallet.models import PaymentCode
from ..wallet.service import code_of_buyer, issue_payment_code
from ..web.layout import NavItem, render
from ..web.security import Csrf, PageSession
from . import service
from .buyer_session import BUYER_COOKIE, buyer_cookie, cookie_login_id, valid_buyer_cookie

router = APIRouter(prefix="/console", include_in_schema=False)

NAV = [
    NavItem("Console", "Requests", "/console/requests"),
    NavItem("Console", "Notifications", "/console/notifications"),
    NavItem("Console", "Payments", "/console/payments"),
    NavItem("Console", "Wallet", "/console/wallet"),
    NavItem("Console", "Scenarios and faults", "/console/scenarios"),
    NavItem("Console", "Clock", "/console/clock"),
    NavItem("Console", "Reconciliation", "/console/reconciliation"),
    NavItem("Console", "Registrations", "/console/registrations"),
]
APIS = [a for a in API_NAMES if a != "*"]


def _see(url: str, **params: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def _applications(rt: Runtime) -> list[dict[str, Any]]:
    apps: list[dict[str, Any]] = rt.resources()["applications"]
    return apps


def _reports(request: Request) -> ReconciliationService:
    svc: ReconciliationService = request.app.state.reconciliation
    return svc


@router.get("")
def home(_s: PageSession) -> Response:
    return RedirectResponse("/console/requests", status_code=303)


# -- request log --------------------------------------------------------------------------------


def _request_filters(request: Request) -> dict[str, str]:
    q = request.query_params
    names = ("clientId", "api", "resultCode", "refused", "since", "until")
    return {n: q.get(n, "").strip() for n in names}


def _search(rt: Runtime, f: dict[str, str]) -> list[Any]:
    return rt.journal.search(
        client_id=f["clientId"] or None,
        api=f["api"] or None,
        result_code=f["resultCode"] or None,
        refused=f["refused"] in ("1", "on", "true"),
        since=f["since"] or None,
        until=f["until"] or None,
        limit=200,
    )


@router.get("/requests")
def requests_page(request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    f = _request_filters(request)
    query = urlencode({k: v for k, v in f.items() if v})
    return render(
        request,
        "console/requests.html",
        title="Request log",
        filters=f,
        entries=_search(rt, f),
        apps=_applications(rt),
        apis=APIS,
        rows_url="/console/requests/rows" + (f"?{query}" if query else ""),
        journal_enabled=rt.journal.enabled,
    )


@router.get("/requests/rows")
def requests_rows(request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    return render(request, "console/requests_rows.html", entries=_search(rt, _request_filters(request)))


@router.get("/requests/{entry_id}")
def request_detail(entry_id: int, request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    entry = rt.journal.get(entry_id)
    if entry is None:
        return render(
            request,
            "console/message.html",
            status_code=404,
            title="Request not found",
            error=f"No request {entry_id} in the log (it keeps the newest only).",
        )
    return render(
        request,
        "console/request.html",
        title=f"Request {entry_id}",
        entry=entry,
        view=entry.public(),
        comparison=service.signature_comparison(entry),
    )


# -- notifications ----------------------------------------------------------------------------


@router.get("/notifications")
def notifications_page(
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    flash: str = "",
    error: str = "",
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    client_id = request.query_params.get("clientId", "")
    return render(
        request,
        "console/notifications.html",
        status_code=status,
        title="Notifications",
        notifications=rt.notifier.list(client_id=client_id or None, limit=200),
        apps=_applications(rt),
        client_id=client_id,
        flash=flash,
        error=error,
        form=form if form is not None else dict(request.query_params),
    )


@router.get("/notifications/rows")
def notifications_rows(request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    client_id = request.query_params.get("clientId", "")
    return render(
        request,
        "console/notifications_rows.html",
        notifications=rt.notifier.list(client_id=client_id or None, limit=200),
    )


@router.get("/notifications/{notification_id}")
def notification_detail(
    notification_id: int, request: Request, rt: RuntimeDep, _s: PageSession, flash: str = ""
) -> Response:
    try:
        n = rt.notifier.get(notification_id)
    except ControlError as exc:
        return render(request, "console/message.html", status_code=404, title="Not found", error=exc.message)
    return render(
        request,
        "console/notification.html",
        title=f"Notification {notification_id}",
        n=n,
        body_text=_pretty(n["body"]),
        flash=flash,
    )


def _pretty(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False)


@router.post("/notifications/{notification_id}/resend")
def notification_resend(notification_id: int, rt: RuntimeDep, _s: PageSession, _c: Csrf) -> Response:
    attempt = rt.notifier.resend(notification_id)
    answer = attempt.http_status if attempt.http_status is not None else attempt.error
    return _see(
        f"/console/notifications/{notification_id}", flash=f"Attempt {attempt.number} sent: {answer}."
    )


@router.post("/notifications/send")
def notification_send(
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    url: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form(alias="clientId")] = "",
) -> Response:
    try:
        attempt = rt.notifier.send_edited(client_id=client_id, url=url, body=body)
    except ControlError as exc:
        return notifications_page(
            request,
            rt,
            None,
            error=exc.message,
            status=exc.status_code,
            form={"url": url, "body": body, "clientId": client_id},
        )
    answer = attempt.http_status if attempt.http_status is not None else attempt.error
    return _see(f"/console/notifications/{attempt.notification_id}", flash=f"Sent: {answer}.")


# -- payments ----------------------------------------------------------------------------------


@router.get("/payments")
def payments_page(request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    client_id = request.query_params.get("clientId", "")
    status = request.query_params.get("status", "")
    error = ""
    try:
        found = list_payments(rt.db, client_id=client_id or None, status=status or None, limit=200)
    except ControlError as exc:
        found, error = [], exc.message
    return render(
        request,
        "console/payments.html",
        status_code=422 if error else 200,
        title="Payments",
        payments=found,
        apps=_applications(rt),
        statuses=STATUSES,
        client_id=client_id,
        status=status,
        error=error,
    )


@router.get("/payments/{payment_id}")
def payment_detail(payment_id: str, request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    try:
        payment, refunds = get_payment(rt.db, payment_id)
    except ControlError as exc:
        return render(request, "console/message.html", status_code=404, title="Not found", error=exc.message)
    return render(
        request,
        "console/payment.html",
        title=f"Payment {payment_id}",
        p=payment,
        refunds=refunds,
        waiting=waiting_for_buyer(payment),
        timeline=service.timeline_of(rt, _reports(request), payment, refunds),
    )


# -- the buyer's wallet --------------------------------------------------------------------------


def _signed_in_buyer(request: Request, rt: Runtime) -> str | None:
    cookie = request.cookies.get(BUYER_COOKIE)
    login_id = cookie_login_id(cookie)
    if login_id is None:
        return None
    with rt.db.read() as session:
        buyer = sandbox.find_buyer(session, login_id)
        if buyer is None or not valid_buyer_cookie(cookie, login_id=login_id, password=buyer.password):
            return None
    return login_id


@router.get("/wallet")
def wallet_home(
    request: Request, rt: RuntimeDep, _s: PageSession, error: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "console/wallet_signin.html",
        status_code=status,
        title="Buyer wallet",
        buyers=rt.resources()["buyers"],
        buyer_signed_in=_signed_in_buyer(request, rt),
        login_id=request.query_params.get("loginId", ""),
        error=error,
    )


@router.post("/wallet/sign-in")
def wallet_sign_in(
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    login_id: Annotated[str, Form(alias="loginId")] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    with rt.db.read() as session:
        buyer = sandbox.check_buyer_password(session, login_id=login_id.strip(), password=password)
    if buyer is None:
        return wallet_home(request, rt, None, error="loginId or password: no buyer with these.", status=401)
    response = RedirectResponse(f"/console/wallet/{buyer.login_id}", status_code=303)
    response.set_cookie(
        BUYER_COOKIE, buyer_cookie(buyer.login_id, buyer.password), httponly=True, samesite="strict", path="/"
    )
    return response


@router.post("/wallet/sign-out")
def wallet_sign_out(_s: PageSession, _c: Csrf) -> Response:
    response = RedirectResponse("/console/wallet", status_code=303)
    response.delete_cookie(BUYER_COOKIE, path="/")
    return response


def _wallet_page(
    request: Request,
    rt: Runtime,
    login_id: str,
    *,
    flash: str = "",
    error: str = "",
    status: int = 200,
    code: PaymentCode | None = None,
) -> Response:
    if _signed_in_buyer(request, rt) != login_id:
        return _see("/console/wallet", loginId=login_id)
    with rt.db.read() as session:
        buyer = sandbox.require_buyer(session, login_id)
        balances = sandbox.buyer_balances(session, login_id)
    history = list_payments(rt.db, buyer_login_id=login_id, limit=100)
    return render(
        request,
        "console/wallet.html",
        status_code=status,
        title=f"Wallet of {buyer.name}",
        buyer=buyer,
        balances=balances,
        currencies=sorted(MINOR_UNITS),
        selected_currency=request.query_params.get("currency")
        or ("USD" if "USD" in balances or not balances else next(iter(balances))),
        pending=[p for p in history if waiting_for_buyer(p)],
        history=history,
        code=code,
        flash=flash,
        error=error,
    )


@router.get("/wallet/{login_id}")
def wallet_page(
    login_id: str, request: Request, rt: RuntimeDep, _s: PageSession, flash: str = ""
) -> Response:
    try:
        return _wallet_page(request, rt, login_id, flash=flash)
    except ControlError as exc:
        return render(request, "console/message.html", status_code=404, title="Not found", error=exc.message)


def _wallet_action(request: Request, rt: Runtime, login_id: str) -> Response | None:
    if _signed_in_buyer(request, rt) != login_id:
        return _see("/console/wallet", loginId=login_id)
    return None


@router.post("/wallet/{login_id}/payment-code")
def wallet_code(
    login_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    digits: Annotated[int, Form()] = 18,
) -> Response:
    if (away := _wallet_action(request, rt, login_id)) is not None:
        return away
    try:
        with rt.db.write() as session:
            code = issue_payment_code(
                session,
                login_id=login_id,
                now=rt.clock.now(),
                ttl_seconds=rt.settings.payment_code_ttl_seconds,
                digits=digits,
            )
    except ControlError as exc:
        return _wallet_page(request, rt, login_id, error=exc.message, status=exc.status_code)
    return _wallet_page(request, rt, login_id, code=code)


def _own_code(rt: Runtime, login_id: str, code: str) -> str:
    with rt.db.read() as session:
        return code_of_buyer(session, login_id=login_id, code=code)


@router.get("/wallet/{login_id}/codes/{code}/barcode.svg")
def wallet_barcode(login_id: str, code: str, request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    if (away := _wallet_action(request, rt, login_id)) is not None:
        return away
    return Response(code128_svg(_own_code(rt, login_id, code)), media_type="image/svg+xml")


@router.get("/wallet/{login_id}/codes/{code}/qr.svg")
def wallet_qr(login_id: str, code: str, request: Request, rt: RuntimeDep, _s: PageSession) -> Response:
    if (away := _wallet_action(request, rt, login_id)) is not None:
        return away
    import segno  # QR codes: imported on the first one drawn, not at start-up

    out = io.BytesIO()
    segno.make(_own_code(rt, login_id, code), error="m").save(out, kind="svg", scale=5, border=2)
    return Response(out.getvalue(), media_type="image/svg+xml")


@router.post("/wallet/{login_id}/scan")
def wallet_scan(
    login_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    code_value: Annotated[str, Form(alias="codeValue")] = "",
) -> Response:
    if (away := _wallet_action(request, rt, login_id)) is not None:
        return away
    if not code_value.strip():
        return _wallet_page(request, rt, login_id, error="codeValue: scan or paste a code value", status=422)
    try:
        p = rt.payments.wallet_scan(buyer_login_id=login_id, code_value=code_value)
    except ControlError as exc:
        return _wallet_page(request, rt, login_id, error=exc.message, status=exc.status_code)
    said = "waiting for your PIN: approve or decline it below" if waiting_for_buyer(p) else p.status
    return _see(f"/console/wallet/{login_id}", flash=f"Payment {p.payment_id}: {said}.")


@router.post("/wallet/{login_id}/confirm")
def wallet_confirm(
    login_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    payment_id: Annotated[str, Form(alias="paymentId")] = "",
    approve: Annotated[str, Form()] = "",
) -> Response:
    if (away := _wallet_action(request, rt, login_id)) is not None:
        return away
    try:
        p = rt.payments.wallet_confirm(
            buyer_login_id=login_id, payment_id=payment_id, approve=approve == "true"
        )
    except ControlError as exc:
        return _wallet_page(request, rt, login_id, error=exc.message, status=exc.status_code)
    return _see(f"/console/wallet/{login_id}", flash=f"Payment {p.payment_id}: {p.status} ({p.result_code}).")


def major_to_minor(currency: str, value: str) -> str:
    """``"12.50"`` USD -> ``"1250"``; 422 naming the field when it is not an amount."""
    places = MINOR_UNITS.get(currency)
    if places is None:
        raise ControlError(422, f"currency: {currency!r} is not a supported currency")
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ControlError(422, "balance: a number in major units, e.g. 12.50") from exc
    scaled = amount.scaleb(places)
    if amount < 0 or scaled != scaled.to_integral_value():
        raise ControlError(422, f"balance: at most {places} decimal places, not negative")
    return str(int(scaled))


@router.post("/wallet/{login_id}/balance")
def wallet_balance(
    login_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    currency: Annotated[str, Form()] = "",
    balance: Annotated[str, Form()] = "",
) -> Response:
    if (away := _wallet_action(request, rt, login_id)) is not None:
        return away
    try:
        value = major_to_minor(currency, balance)
        with rt.db.write() as session:
            sandbox.set_buyer_balance(session, login_id=login_id, currency=currency, value=value)
    except ControlError as exc:
        return _wallet_page(request, rt, login_id, error=exc.message, status=exc.status_code)
    return _see(f"/console/wallet/{login_id}", flash=f"Balance in {currency} set.", currency=currency)


# -- scenarios and faults ----------------------------------------------------------------------


@router.get("/scenarios")
def scenarios_page(
    request: Request, rt: RuntimeDep, _s: PageSession, flash: str = "", error: str = "", status: int = 200
) -> Response:
    now = rt.clock.now()
    return render(
        request,
        "console/scenarios.html",
        status_code=status,
        title="Scenarios and faults",
        scenarios=[s.view() for s in rt.simulations.scenarios() if s.budget.live(now)],
        faults=[f.view() for f in rt.simulations.faults() if f.budget.live(now)],
        apis=API_NAMES,
        fault_kinds=FAULT_KINDS,
        result_codes=sorted(CATALOGUE),
        apps=_applications(rt),
        flash=flash,
        error=error,
    )


def _optional_int(value: str, field: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise SimulationError(f"{field}: a whole number") from exc


def _optional_float(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise SimulationError(f"{field}: a number") from exc


@router.post("/scenarios")
def scenario_add(
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    api: Annotated[str, Form()] = "",
    result_code: Annotated[str, Form(alias="resultCode")] = "",
    result_status: Annotated[str, Form(alias="resultStatus")] = "",
    client_id: Annotated[str, Form(alias="clientId")] = "",
    count: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "",
) -> Response:
    try:
        if not result_code.strip():
            raise SimulationError("resultCode: choose the result code to answer")
        item = make_scenario(
            api=api,
            result_code=result_code.strip(),
            result_status=result_status or None,
            now=rt.clock.now(),
            count=_optional_int(count, "count"),
            minutes=_optional_float(minutes, "minutes"),
            client_id=client_id or None,
        )
    except SimulationError as exc:
        return scenarios_page(request, rt, None, error=str(exc), status=422)
    rt.simulations.add(item)
    return _see("/console/scenarios", flash=f"Scenario {item.id} on: {api} answers {item.result_code}.")


@router.post("/faults")
def fault_add(
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    api: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    ms: Annotated[str, Form()] = "",
    http_status: Annotated[str, Form(alias="status")] = "",
    client_id: Annotated[str, Form(alias="clientId")] = "",
    count: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "",
    probability: Annotated[str, Form()] = "",
) -> Response:
    try:
        item = make_fault(
            api=api,
            kind=kind,
            now=rt.clock.now(),
            ms=_optional_int(ms, "ms"),
            status=_optional_int(http_status, "status"),
            count=_optional_int(count, "count"),
            minutes=_optional_float(minutes, "minutes"),
            probability=_optional_float(probability, "probability"),
            client_id=client_id or None,
        )
    except SimulationError as exc:
        return scenarios_page(request, rt, None, error=str(exc), status=422)
    rt.simulations.add(item)
    return _see("/console/scenarios", flash=f"Fault {item.id} on: {kind} for {api}.")


@router.post("/simulations/{item_id}/remove")
def simulation_remove(item_id: int, rt: RuntimeDep, _s: PageSession, _c: Csrf) -> Response:
    removed = rt.simulations.remove(item_id)
    return _see(
        "/console/scenarios", flash=f"Removed {item_id}." if removed else f"{item_id} had already ended."
    )


# -- clock -------------------------------------------------------------------------------------


@router.get("/clock")
def clock_page(
    request: Request, rt: RuntimeDep, _s: PageSession, flash: str = "", error: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "console/clock.html",
        status_code=status,
        title="Clock",
        now=iso(rt.clock.now()),
        frozen=rt.clock.state.frozen_at is not None,
        offset=rt.clock.state.offset_seconds,
        events=service.next_events(rt),
        flash=flash,
        error=error,
    )


@router.post("/clock/advance")
def clock_advance(
    request: Request, rt: RuntimeDep, _s: PageSession, _c: Csrf, duration: Annotated[str, Form()] = ""
) -> Response:
    try:
        seconds = service.parse_duration(duration)
    except ControlError as exc:
        return clock_page(request, rt, None, error=exc.message, status=exc.status_code)
    service.advance_clock(rt, seconds)
    return _see("/console/clock", flash=f"Advanced by {duration.strip()}: now {iso(rt.clock.now())}.")


@router.post("/clock/next")
def clock_next(request: Request, rt: RuntimeDep, _s: PageSession, _c: Csrf) -> Response:
    try:
        event = service.advance_to_next_event(rt)
    except ControlError as exc:
        return clock_page(request, rt, None, error=exc.message, status=exc.status_code)
    return _see("/console/clock", flash=f"Advanced to {event.kind} ({iso(event.at)}): {event.detail}.")


@router.post("/clock/freeze")
def clock_freeze(rt: RuntimeDep, _s: PageSession, _c: Csrf, frozen: Annotated[str, Form()] = "") -> Response:
    service.set_frozen(rt, frozen == "true")
    return _see("/console/clock", flash="The clock is frozen." if frozen == "true" else "The clock runs.")


# -- merchant registrations (issue 16) ---------------------------------------------------------

REGISTRATION_STATUSES = ("PENDING", "APPROVED", "REJECTED")


@router.get("/registrations")
def registrations_page(request: Request, rt: RuntimeDep, _s: PageSession, flash: str = "") -> Response:
    return _registrations(request, rt, flash=flash)


def _registrations(
    request: Request, rt: Runtime, *, flash: str = "", error: str = "", status: int = 200
) -> Response:
    client_id = request.query_params.get("clientId", "").strip()
    wanted = request.query_params.get("status", "").strip()
    if wanted and wanted not in REGISTRATION_STATUSES:
        error, status, wanted = "status must be PENDING, APPROVED or REJECTED", 422, ""
    rows = rt.registrations.list(client_id=client_id or None, status=wanted or None, limit=200)
    return render(
        request,
        "console/registrations.html",
        status_code=status,
        title="Merchant registrations",
        filters={"clientId": client_id, "status": wanted},
        statuses=REGISTRATION_STATUSES,
        apps=[a for a in _applications(rt) if a.get("role") in ("ACQUIRER", "ISV")],
        registrations=[registration_view(r) for r in rows],
        decide=True,
        flash=flash,
        error=error,
    )


@router.post("/registrations/{registration_id}/decision")
def registration_decide(
    registration_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    outcome: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    immediately: Annotated[str, Form()] = "",
) -> Response:
    now = immediately in ("true", "on", "1")
    if len(reason) > 256:
        return _registrations(request, rt, error="reason is longer than 256 characters", status=422)
    try:
        r = rt.registrations.decide(
            registration_id, outcome=outcome, reason=reason.strip() or None, immediately=now
        )
    except ControlError as exc:
        return _registrations(request, rt, error=exc.message, status=exc.status_code)
    # As the control API: the notification of a review that just ended goes out before the answer.
    rt.run_due()
    done = f"{r.registration_id}: {outcome}" + (" now." if now else " when its review time is up.")
    return _see("/console/registrations", flash=done)


# -- reconciliation ----------------------------------------------------------------------------


@router.get("/reconciliation")
def reconciliation_page(
    request: Request, rt: RuntimeDep, _s: PageSession, flash: str = "", error: str = "", status: int = 200
) -> Response:
    apps = _applications(rt)
    client_id = request.query_params.get("clientId", "")
    day_text = request.query_params.get("date", "")
    chosen = next((a for a in apps if a["clientId"] == client_id), None)
    day: date | None = None
    if day_text:
        try:
            day = parse_day(day_text)
        except ValueError as exc:
            error, status = f"date: {exc}", 422
    files = _reports(request).list_files(customer_id=chosen["customerId"] if chosen else None, day=day)
    resources = rt.resources()
    return render(
        request,
        "console/reconciliation.html",
        status_code=status,
        title="Reconciliation files",
        apps=apps,
        chosen=chosen,
        client_id=client_id,
        day=day_text,
        today=local_day(rt.clock.now()).isoformat(),
        files=files,
        sftp=resources["sftp"],
        flash=flash,
        error=error,
    )


@router.post("/reconciliation/run")
def reconciliation_run(
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    day: Annotated[str, Form(alias="date")] = "",
    client_id: Annotated[str, Form(alias="clientId")] = "",
) -> Response:
    try:
        parsed = parse_day(day)
    except ValueError as exc:
        return reconciliation_page(request, rt, None, error=f"date: {exc}", status=422)
    try:
        result = _reports(request).run(day=parsed, client_id=client_id or None)
    except ControlError as exc:
        return reconciliation_page(request, rt, None, error=exc.message, status=exc.status_code)
    return _see(
        "/console/reconciliation",
        clientId=client_id,
        flash=f"Generated {len(result.files)} file(s) for {parsed} (settlement {result.settlement_date}).",
    )


@router.get("/reconciliation/files/{path:path}")
def reconciliation_download(path: str, request: Request, _s: PageSession) -> Response:
    try:
        found = _reports(request).file_path(path)
    except FileNotFoundError:
        return render(
            request, "console/message.html", status_code=404, title="Not found", error=f"No report {path}."
        )
    return FileResponse(found, media_type="text/csv; charset=utf-8", filename=found.name)
