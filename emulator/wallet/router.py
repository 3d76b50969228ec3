"""The buyer's wallet over HTTP: control-API calls for tests, and a small page for people."""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field

from ..clock import iso
from ..control.router import PREFIX, CamelModel, RuntimeDep, require_admin
from ..errors import ControlError
from ..payments.models import Payment
from ..payments.query import waiting_for_buyer
from ..runtime import Runtime
from ..web.layout import render
from ..web.security import Csrf, PageSession

router = APIRouter(prefix=f"{PREFIX}/wallet", tags=["wallet"], dependencies=[Depends(require_admin)])
# The page a scanned code or entry-code redirect opens: with an admin token set it needs the
# page session like every page (its forms change state); the QR image stays open.
pages = APIRouter(prefix=f"{PREFIX}/wallet", tags=["wallet"], include_in_schema=False)


class ScanIn(CamelModel):
    buyer: str = Field(min_length=1)
    code_value: str = Field(min_length=1, max_length=2048)


class ConfirmIn(CamelModel):
    buyer: str = Field(min_length=1)
    payment_id: str = Field(min_length=1, max_length=64)
    approve: bool


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        "paymentId": p.payment_id,
        "paymentRequestId": p.payment_request_id,
        "paymentStatus": p.status,
        "resultCode": p.result_code,
        "resultMessage": p.result_message,
        "amount": {"currency": p.currency, "value": str(p.amount)},
        "buyer": p.buyer_login_id,
        "waitingForVerification": p.status == "PROCESSING" and p.verify_by is not None,
        "verifyBy": iso(p.verify_by) if p.verify_by else None,
    }


@router.post("/scan")
def scan(body: ScanIn, rt: RuntimeDep) -> dict[str, Any]:
    return payment_view(rt.payments.wallet_scan(buyer_login_id=body.buyer, code_value=body.code_value))


@router.post("/confirm")
def confirm(body: ConfirmIn, rt: RuntimeDep) -> dict[str, Any]:
    return payment_view(
        rt.payments.wallet_confirm(
            buyer_login_id=body.buyer, payment_id=body.payment_id, approve=body.approve
        )
    )


def _payment(rt: Runtime, request: Request, payment_id: str) -> Payment:
    # By id, not by rebuilding the code value: that would break if the public URL changed.
    payment = rt.payments.scannable_payment(payment_id)
    if payment is None:
        raise ControlError(404, "unknown code")
    return payment


@pages.get("/c/{payment_id}/qr.png")
def qr_png(payment_id: str, request: Request, rt: RuntimeDep) -> Response:
    payment = _payment(rt, request, payment_id)
    assert payment.code_value is not None
    import segno  # QR codes: imported on the first one drawn, not at start-up

    out = io.BytesIO()
    segno.make(payment.code_value, error="m").save(out, kind="png", scale=6, border=2)
    return Response(out.getvalue(), media_type="image/png")


def _page(
    request: Request, rt: Runtime, payment: Payment, *, flash: str = "", error: str = "", status: int = 200
) -> Response:
    waiting = waiting_for_buyer(payment)
    payable = payment.status == "PROCESSING" and payment.buyer_login_id is None
    return render(
        request,
        "wallet_payment.html",
        status_code=status,
        title="Emulator wallet",
        p=payment,
        buyers=rt.resources()["buyers"],
        waiting=waiting,
        payable=payable,
        flash=flash,
        error=error,
    )


@pages.get("/c/{payment_id}")
def wallet_page(
    payment_id: str, request: Request, rt: RuntimeDep, _s: PageSession, flash: str = ""
) -> Response:
    return _page(request, rt, _payment(rt, request, payment_id), flash=flash)


@pages.post("/c/{payment_id}/pay")
def wallet_page_pay(
    payment_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    buyer: Annotated[str, Form()],
) -> Response:
    payment = _payment(rt, request, payment_id)
    assert payment.code_value is not None
    try:
        paid = rt.payments.wallet_scan(buyer_login_id=buyer, code_value=payment.code_value)
    except ControlError as exc:
        return _page(request, rt, payment, error=exc.message, status=exc.status_code)
    waiting = waiting_for_buyer(paid)
    flash = "Waiting for confirmation: the buyer must enter the PIN." if waiting else f"{paid.status}."
    return RedirectResponse(f"{PREFIX}/wallet/c/{payment_id}?{urlencode({'flash': flash})}", status_code=303)


@pages.post("/c/{payment_id}/confirm")
def wallet_page_confirm(
    payment_id: str,
    request: Request,
    rt: RuntimeDep,
    _s: PageSession,
    _c: Csrf,
    buyer: Annotated[str, Form()],
    approve: Annotated[bool, Form()],
) -> Response:
    try:
        rt.payments.wallet_confirm(buyer_login_id=buyer, payment_id=payment_id, approve=approve)
    except ControlError as exc:
        return _page(
            request, rt, _payment(rt, request, payment_id), error=exc.message, status=exc.status_code
        )
    flash = "Approved." if approve else "Declined."
    return RedirectResponse(f"{PREFIX}/wallet/c/{payment_id}?{urlencode({'flash': flash})}", status_code=303)
