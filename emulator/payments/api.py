"""Gateway operations for payments: request models in, one service call, response body out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..amounts import AmountError, amount_dict, parse_amount
from ..clock import as_utc, iso
from ..errors import ParamIllegal, message_of, status_of
from ..gateway.operations import Operation, Reply
from ..gateway.wire import RequestId, WireDatetime, WireModel, WireStr
from ..reconciliation.fx import settlement_fields
from ..refunds.service import RefundService
from ..sandbox.access import Merchant
from .models import AnyPayment, PaymentStatus, PaymentView
from .service import PayCommand, PaymentService

Id64 = Annotated[WireStr, Field(min_length=1, max_length=64)]


class AmountIn(WireModel):
    currency: WireStr
    value: WireStr


class StoreIn(WireModel):
    reference_store_id: Id64
    store_name: Annotated[WireStr, Field(max_length=256)] | None = None
    store_mcc: Annotated[WireStr, Field(min_length=1, max_length=32, alias="storeMCC")]


class MerchantIn(WireModel):
    reference_merchant_id: Id64
    merchant_mcc: Annotated[WireStr, Field(min_length=1, max_length=32, alias="merchantMCC")]
    merchant_name: Annotated[WireStr, Field(min_length=1, max_length=256)]
    store: StoreIn


class EnvIn(WireModel):
    store_terminal_id: Annotated[WireStr, Field(max_length=64)] | None = None
    store_terminal_request_time: WireDatetime | None = None
    user_agent: Annotated[WireStr, Field(max_length=1024)] | None = None
    client_ip: Annotated[WireStr, Field(max_length=64)] | None = None


class OrderIn(WireModel):
    reference_order_id: Id64 | None = None
    order_description: Annotated[WireStr, Field(min_length=1, max_length=256)]
    order_amount: AmountIn
    merchant: MerchantIn
    env: EnvIn | None = None


class PaymentMethodIn(WireModel):
    payment_method_type: Annotated[WireStr, Field(min_length=1, max_length=64)]
    payment_method_id: Annotated[WireStr, Field(max_length=128)] | None = None


# The Java SDK (fastjson) writes enum constant names, not the documented values (spec
# Appendix E); production evidently accepts them, so the emulator does and journals the spelling.
JAVA_SPELLINGS = {"PAYMENTCODE": "PaymentCode", "ORDERCODE": "OrderCode", "ENTRYCODE": "EntryCode"}


class PaymentFactorIn(WireModel):
    in_store_payment_scenario: Literal[
        "PaymentCode", "OrderCode", "EntryCode", "PAYMENTCODE", "ORDERCODE", "ENTRYCODE"
    ]


class PayRequest(WireModel):
    product_code: Literal["IN_STORE_PAYMENT"]
    payment_request_id: RequestId
    order: OrderIn
    payment_amount: AmountIn
    payment_method: PaymentMethodIn
    payment_factor: PaymentFactorIn
    payment_notify_url: Annotated[WireStr, Field(max_length=2048)] | None = None
    payment_expiry_time: WireDatetime | None = None
    payment_redirect_url: Annotated[WireStr, Field(max_length=2048)] | None = None

    @field_validator("payment_notify_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v


class PaymentLookup(WireModel):
    payment_request_id: RequestId | None = None
    payment_id: Id64 | None = None
    merchant_account_id: Annotated[WireStr, Field(max_length=32)] | None = None

    @model_validator(mode="after")
    def _one_id(self) -> PaymentLookup:
        if not self.payment_request_id and not self.payment_id:
            raise ValueError("paymentRequestId or paymentId is required")
        return self


def _amount(field: str, amount: AmountIn) -> tuple[str, int]:
    try:
        return parse_amount(amount.currency, amount.value)
    except AmountError as exc:
        raise ParamIllegal(f"{field}.{exc.field}", exc.problem) from exc


def _iso_time(field: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ParamIllegal(field, "must be an ISO-8601 date-time") from exc
    if parsed.tzinfo is None:
        raise ParamIllegal(field, "must carry a UTC offset")
    return as_utc(parsed)


def pay_command(req: PayRequest) -> PayCommand:
    currency, amount = _amount("paymentAmount", req.payment_amount)
    _amount("order.orderAmount", req.order.order_amount)
    wire_scenario = req.payment_factor.in_store_payment_scenario
    scenario = JAVA_SPELLINGS.get(wire_scenario, wire_scenario)
    if req.payment_method.payment_method_type != "CONNECT_WALLET":
        raise ParamIllegal("paymentMethod.paymentMethodType", "must be CONNECT_WALLET for in-store payments")
    if scenario == "PaymentCode" and not req.payment_method.payment_method_id:
        raise ParamIllegal("paymentMethod.paymentMethodId", "is required for PaymentCode")
    if scenario == "EntryCode" and not (req.order.env and req.order.env.user_agent):
        raise ParamIllegal("order.env.userAgent", "is required for EntryCode")
    return PayCommand(
        payment_request_id=req.payment_request_id,
        scenario=scenario,
        currency=currency,
        amount=amount,
        payment_method_type=req.payment_method.payment_method_type,
        payment_method_id=req.payment_method.payment_method_id,
        notify_url=req.payment_notify_url,
        expires_at=_iso_time("paymentExpiryTime", req.payment_expiry_time),
        reference_order_id=req.order.reference_order_id,
        order_description=req.order.order_description,
        merchant_name=req.order.merchant.merchant_name,
        reference_merchant_id=req.order.merchant.reference_merchant_id,
        reference_store_id=req.order.merchant.store.reference_store_id,
    )


def result_of(code: str, message: str) -> dict[str, str]:
    return {"resultCode": code, "resultStatus": status_of(code), "resultMessage": message}


def psp_customer_info(p: PaymentView) -> dict[str, str] | None:
    if p.psp_customer_id is None:
        return None
    return {
        "pspName": "ALIPAY_CN",
        "pspCustomerId": p.psp_customer_id,
        "displayCustomerId": p.display_customer_id or "",
    }


def pay_body(
    p: AnyPayment, *, answer_code: str | None = None, settlement: dict[str, Any] | None = None
) -> dict[str, Any]:
    result = (
        result_of(answer_code, message_of(answer_code))
        if answer_code
        else result_of(p.result_code, p.result_message)
    )
    if result["resultStatus"] == "F":
        # A failed pay answers result alone (the official mock upcp_f.json, spec §3.2).
        return {"result": result}
    body: dict[str, Any] = {
        "result": result,
        "paymentRequestId": p.payment_request_id,
        "paymentId": p.payment_id,
        "paymentAmount": amount_dict(p.currency, p.amount),
        "paymentCreateTime": iso(p.created_at),
    }
    if p.paid_at is not None and p.status in (PaymentStatus.SUCCESS, PaymentStatus.FAIL):
        body["paymentTime"] = iso(p.paid_at)
    if p.status == PaymentStatus.SUCCESS and (info := psp_customer_info(p)):
        body["pspCustomerInfo"] = info
    if p.status == PaymentStatus.SUCCESS and result["resultStatus"] == "S" and settlement:
        body.update(settlement)
    if p.code_value and p.scenario == "OrderCode" and result["resultStatus"] == "S":
        body["orderCodeForm"] = order_code_form(p)
    if p.code_value and p.scenario == "EntryCode" and result["resultStatus"] == "S":
        body["redirectActionForm"] = {"method": "SCAN", "redirectUrl": p.code_value}
    return body


def order_code_form(p: AnyPayment) -> dict[str, Any]:
    """Spec §3.1 OrderCodeForm: the TEXT entry first (the string a POS renders as a QR code)."""
    assert p.code_value is not None
    form: dict[str, Any] = {
        "paymentMethodType": p.payment_method_type,
        "codeDetails": [
            {"codeValueType": "QRCODE", "codeValue": p.code_value, "displayType": "TEXT"},
            {
                "codeValueType": "QRCODE",
                "codeValue": f"{p.code_value}/qr.png",
                "displayType": "BIGIMAGE",
            },
        ],
    }
    if p.expires_at is not None:
        form["expireTime"] = iso(p.expires_at)
    return form


def inquiry_body(
    p: PaymentView,
    *,
    closed: bool,
    transactions: list[dict[str, Any]],
    settlement: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status = PaymentStatus(p.status)
    if closed:
        status, code = PaymentStatus.FAIL, "ORDER_IS_CLOSED"
    elif status == PaymentStatus.CANCELLED:
        code = "ORDER_IS_CANCELED"
    elif status == PaymentStatus.PROCESSING:
        # An order or entry code waiting for the buyer: its pay answered SUCCESS ("code
        # generated"), but the payment is not paid (issue #12 item 4).
        code = "PAYMENT_IN_PROCESS"
    else:
        code = p.result_code
    body: dict[str, Any] = {
        "result": result_of("SUCCESS", "success"),
        "paymentStatus": status.value,
        "paymentResultCode": code,
        "paymentResultMessage": p.result_message if code == p.result_code else message_of(code),
        "paymentRequestId": p.payment_request_id,
        "paymentId": p.payment_id,
        "paymentAmount": amount_dict(p.currency, p.amount),
        "paymentCreateTime": iso(p.created_at),
    }
    if p.paid_at is not None:
        body["paymentTime"] = iso(p.paid_at)
    if (info := psp_customer_info(p)) is not None:
        body["pspCustomerInfo"] = info
    if status == PaymentStatus.SUCCESS and settlement:
        body.update(settlement)
    if transactions:
        body["transactions"] = transactions
    return body


def operations(payments: PaymentService, refunds: RefundService, *, fx_quotes: str) -> list[Operation]:
    def settlement(merchant: Merchant, p: PaymentView) -> dict[str, Any]:
        return settlement_fields(
            fx_quotes, currency=p.currency, amount=p.amount, settlement_currency=merchant.settlement_currency
        )

    def pay(merchant: Merchant, req: PayRequest) -> Reply:
        outcome = payments.pay(merchant, pay_command(req))
        p = outcome.payment
        body = pay_body(p, answer_code=outcome.answer_code, settlement=settlement(merchant, p))
        notes: dict[str, str] = {}
        spelling = req.payment_factor.in_store_payment_scenario
        if spelling in JAVA_SPELLINGS:
            notes["note"] = (
                f"paymentFactor.inStorePaymentScenario {spelling!r} is the Java SDK's enum constant "
                f"name, not the documented {JAVA_SPELLINGS[spelling]!r}: accepted, as production does"
            )
        return Reply(body, drop=outcome.drop_connection, notes=notes)

    def inquiry_payment(merchant: Merchant, req: PaymentLookup) -> dict[str, Any] | Reply:
        p = payments.inquiry_payment(
            merchant, payment_id=req.payment_id, payment_request_id=req.payment_request_id
        )
        # Sandbox triggers 9903/9904 (spec §5): the inquiry of such a payment fails or hangs.
        if p.trigger == "inquiry_unknown":
            return {"result": result_of("UNKNOWN_EXCEPTION", message_of("UNKNOWN_EXCEPTION"))}
        if p.trigger == "inquiry_timeout":
            return Reply(
                {"result": result_of("UNKNOWN_EXCEPTION", message_of("UNKNOWN_EXCEPTION"))},
                drop=True,
            )
        transactions = [
            {
                "transactionResult": result_of(r.result_code, r.result_message),
                "transactionId": r.refund_id,
                "transactionType": "REFUND",
                "transactionStatus": r.status,
                "transactionAmount": amount_dict(r.currency, r.amount),
                "transactionRequestId": r.refund_request_id,
                "transactionTime": iso(r.refund_time or r.created_at),
            }
            for r in (refunds.refunds_of(p.payment_id) if p.refund_count else [])
        ]
        return inquiry_body(
            p, closed=payments.is_closed(p), transactions=transactions, settlement=settlement(merchant, p)
        )

    def cancel(merchant: Merchant, req: PaymentLookup) -> dict[str, Any]:
        p = payments.cancel(merchant, payment_id=req.payment_id, payment_request_id=req.payment_request_id)
        body: dict[str, Any] = {
            "result": result_of("SUCCESS", "success"),
            "paymentId": p.payment_id,
            "paymentRequestId": p.payment_request_id,
        }
        if p.cancelled_at is not None:
            body["cancelTime"] = iso(p.cancelled_at)
        return body

    return [
        Operation("payments/pay", "pay", PayRequest, pay),
        Operation("payments/inquiryPayment", "inquiryPayment", PaymentLookup, inquiry_payment),
        Operation("payments/cancel", "cancel", PaymentLookup, cancel),
    ]
