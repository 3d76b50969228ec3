"""The buyer's wallet over HTTP: control-API calls for tests, and a small page for people."""

from __future__ import annotations

import html
import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from ..clock import iso
from ..control.router import PREFIX, CamelModel, RuntimeDep, require_admin
from ..errors import ControlError
from ..payments.models import Payment
from ..runtime import Runtime

router = APIRouter(prefix=f"{PREFIX}/wallet", tags=["wallet"], dependencies=[Depends(require_admin)])
# The page a scanned code or entry-code redirect opens: with an admin token set, it pays as any
# buyer, so it needs the token too (the pages' session cookie, or a Bearer header).
pages = APIRouter(
    prefix=f"{PREFIX}/wallet", tags=["wallet"], include_in_schema=False, dependencies=[Depends(require_admin)]
)


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
    out = io.BytesIO()
    segno.make(payment.code_value, error="m").save(out, kind="png", scale=6, border=2)
    return Response(out.getvalue(), media_type="image/png")


@pages.get("/c/{payment_id}", response_class=HTMLResponse)
def wallet_page(payment_id: str, request: Request, rt: RuntimeDep, message: str = "") -> HTMLResponse:
    payment = _payment(rt, request, payment_id)
    buyers = rt.resources()["buyers"]
    options = "".join(
        f'<option value="{html.escape(b["loginId"])}">{html.escape(b["name"])} '
        f"({html.escape(b['behaviour'])})</option>"
        for b in buyers
    )
    state = html.escape(f"{payment.status} ({payment.result_code})")
    amount = html.escape(f"{payment.amount} {payment.currency} (minor units)")
    verify = ""
    if payment.status == "PROCESSING" and payment.verify_by is not None and payment.buyer_login_id:
        verify = (
            f'<form method="post" action="{PREFIX}/wallet/c/{payment_id}/confirm">'
            f'<input type="hidden" name="buyer" value="{html.escape(payment.buyer_login_id)}">'
            '<button name="approve" value="true">Approve</button> '
            '<button name="approve" value="false">Decline</button></form>'
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Emulator wallet</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto}}img{{width:12rem}}</style></head>
<body><h1>Emulator wallet</h1><p><img alt="QR code" src="{PREFIX}/wallet/c/{payment_id}/qr.png"></p>
<p>Payment <code>{html.escape(payment.payment_id)}</code> of {amount}: <b>{state}</b></p>
<p>{html.escape(message)}</p>
<form method="post" action="{PREFIX}/wallet/c/{payment_id}/pay"><label>Buyer
<select name="buyer">{options}</select></label> <button>Pay</button></form>{verify}</body></html>"""
    return HTMLResponse(page)


@pages.post("/c/{payment_id}/pay", response_class=HTMLResponse)
def wallet_page_pay(
    payment_id: str, request: Request, rt: RuntimeDep, buyer: Annotated[str, Form()]
) -> HTMLResponse:
    payment = _payment(rt, request, payment_id)
    assert payment.code_value is not None
    try:
        rt.payments.wallet_scan(buyer_login_id=buyer, code_value=payment.code_value)
        message = "Paid."
    except ControlError as exc:
        message = exc.message
    return wallet_page(payment_id, request, rt, message=message)


@pages.post("/c/{payment_id}/confirm", response_class=HTMLResponse)
def wallet_page_confirm(
    payment_id: str,
    request: Request,
    rt: RuntimeDep,
    buyer: Annotated[str, Form()],
    approve: Annotated[bool, Form()],
) -> HTMLResponse:
    try:
        rt.payments.wallet_confirm(buyer_login_id=buyer, payment_id=payment_id, approve=approve)
        message = "Approved." if approve else "Declined."
    except ControlError as exc:
        message = exc.message
    return wallet_page(payment_id, request, rt, message=message)
