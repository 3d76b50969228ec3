"""Gateway operations for refunds: request models in, one service call, response body out."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from ..amounts import AmountError, amount_dict, parse_amount
from ..clock import iso
from ..errors import ParamIllegal, status_of
from ..gateway.operations import Operation
from ..gateway.wire import RequestId, WireDatetime, WireModel, WireStr
from ..reconciliation.fx import settlement_fields
from ..sandbox.access import Merchant
from .models import AnyRefund, Refund, RefundStatus
from .service import RefundCommand, RefundService

Id64 = Annotated[WireStr, Field(min_length=1, max_length=64)]


class RefundAmountIn(WireModel):
    currency: WireStr
    value: WireStr


class RefundRequest(WireModel):
    refund_request_id: RequestId
    payment_id: Id64
    refund_amount: RefundAmountIn
    reference_refund_id: Id64 | None = None
    refund_reason: Annotated[WireStr, Field(max_length=256)] | None = None
    refund_notify_url: Annotated[WireStr, Field(max_length=2048)] | None = None
    # Sent by the in-store Java SDK (spec §3.7); only checked, like every Datetime field.
    refund_request_time: WireDatetime | None = None


class RefundLookup(WireModel):
    refund_request_id: RequestId | None = None
    refund_id: Id64 | None = None
    merchant_account_id: Annotated[WireStr, Field(max_length=32)] | None = None

    @model_validator(mode="after")
    def _one_id(self) -> RefundLookup:
        if not self.refund_request_id and not self.refund_id:
            raise ValueError("refundRequestId or refundId is required")
        return self


def refund_command(req: RefundRequest) -> RefundCommand:
    try:
        currency, amount = parse_amount(req.refund_amount.currency, req.refund_amount.value)
    except AmountError as exc:
        raise ParamIllegal(f"refundAmount.{exc.field}", exc.problem) from exc
    if req.refund_notify_url is not None and not req.refund_notify_url.startswith(("http://", "https://")):
        raise ParamIllegal("refundNotifyUrl", "must be an http(s) URL")
    return RefundCommand(
        refund_request_id=req.refund_request_id,
        payment_id=req.payment_id,
        currency=currency,
        amount=amount,
        reason=req.refund_reason,
        reference_refund_id=req.reference_refund_id,
        notify_url=req.refund_notify_url,
    )


def _result(r: AnyRefund) -> dict[str, str]:
    return {
        "resultCode": r.result_code,
        "resultStatus": status_of(r.result_code),
        "resultMessage": r.result_message,
    }


def refund_body(r: AnyRefund, settlement: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"result": _result(r)}
    if r.status == RefundStatus.SUCCESS:
        body.update(
            refundRequestId=r.refund_request_id,
            refundId=r.refund_id,
            paymentId=r.payment_id,
            refundAmount=amount_dict(r.currency, r.amount),
        )
        if r.refund_time is not None:
            body["refundTime"] = iso(r.refund_time)
        body.update(settlement or {})
    return body


def inquiry_refund_body(r: Refund, settlement: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "refundId": r.refund_id,
        "refundRequestId": r.refund_request_id,
        "refundAmount": amount_dict(r.currency, r.amount),
        "refundStatus": r.status,
    }
    if r.status == RefundStatus.SUCCESS:
        if r.refund_time is not None:
            body["refundTime"] = iso(r.refund_time)
        body.update(settlement or {})
    return body


def operations(refunds: RefundService, *, fx_quotes: str) -> list[Operation]:
    def settlement(merchant: Merchant, r: AnyRefund) -> dict[str, Any]:
        return settlement_fields(
            fx_quotes, currency=r.currency, amount=r.amount, settlement_currency=merchant.settlement_currency
        )

    def refund(merchant: Merchant, req: RefundRequest) -> dict[str, Any]:
        r = refunds.refund(merchant, refund_command(req))
        return refund_body(r, settlement(merchant, r))

    def inquiry_refund(merchant: Merchant, req: RefundLookup) -> dict[str, Any]:
        r = refunds.inquiry_refund(merchant, refund_id=req.refund_id, refund_request_id=req.refund_request_id)
        return inquiry_refund_body(r, settlement(merchant, r))

    return [
        Operation("payments/refund", "refund", RefundRequest, refund),
        Operation("payments/inquiryRefund", "inquiryRefund", RefundLookup, inquiry_refund),
    ]
