"""Issue #12 with the official Python SDK 1.7.1: what it does with the production-like defaults
and with each response-signature fault (the README's table records these outcomes)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Live

pytestmark = pytest.mark.e2e


def _pay(emu: Live, request_id: str, **args: Any) -> dict[str, Any]:
    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    return emu.sdk.call(
        "pay_code",
        emu.client(app),
        paymentRequestId=request_id,
        currency=app["testCurrency"],
        amount=1000,
        paymentCode=code,
        **args,
    )


def test_a_pay_without_notify_url_is_param_illegal_for_the_sdk(emu: Live) -> None:
    out = _pay(emu, "NO-NOTIFY", notifyUrl=None)
    assert out["ok"], out  # signed: the SDK verifies it and shows the code
    assert out["body"]["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert "paymentNotifyUrl" in out["body"]["result"]["resultMessage"]


def test_auth_errors_reach_the_sdk_unsigned(emu: Live) -> None:
    """The SDK raises 'signature not exist', as against production; the journal explains."""
    other = emu.app(index=1)
    out = emu.sdk.call(
        "inquiry",
        emu.client(emu.app(), private_key=other["merchantPrivateKeyPem"]),
        paymentRequestId="x",
    )
    assert not out["ok"]
    assert "signature not exist" in out["error"], out
    entry = emu.control.requests(result_code="INVALID_SIGNATURE")[0]
    assert entry["diagnosis"]["check"] == "signature" and entry["signing"].startswith("unsigned")


def test_unpaid_order_code_is_processing_for_the_sdk(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    created = emu.sdk.body(
        "pay_order_code", client, paymentRequestId="OC-UNPAID", currency=app["testCurrency"], amount=700
    )
    assert created["result"]["resultCode"] == "SUCCESS"
    inquiry = emu.sdk.body("inquiry", client, paymentRequestId="OC-UNPAID")
    assert (inquiry["paymentStatus"], inquiry["paymentResultCode"]) == ("PROCESSING", "PAYMENT_IN_PROCESS")


def test_a_refused_refund_is_never_created_for_the_sdk(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    paid = _pay(emu, "PR-OVER")["body"]
    refused = emu.sdk.body(
        "refund",
        client,
        refundRequestId="R-OVER",
        paymentId=paid["paymentId"],
        currency=app["testCurrency"],
        amount=5000,
    )
    assert refused == {"result": refused["result"]}
    assert refused["result"]["resultCode"] == "REFUND_AMOUNT_EXCEED"
    lookup = emu.sdk.body("inquiry_refund", client, refundRequestId="R-OVER")
    assert lookup["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert "transactions" not in emu.sdk.body("inquiry", client, paymentId=paid["paymentId"])


# What SDK 1.7.1 did with each response fault when run (recorded in the README).
SDK_OUTCOMES = {
    "signature_tampered": "raises: response verify failed",
    "unsigned_success": "raises: signature not exist",
    "signature_only": "raises: response-time not exist",
    "response_time_only": "raises: signature not exist",
    "wrong_key_version": "accepts the answer",
    "body_tampered_after_signing": "raises: response verify failed",
}


@pytest.mark.parametrize("kind", list(SDK_OUTCOMES))
def test_what_the_sdk_does_with_each_response_fault(emu: Live, kind: str) -> None:
    emu.control.add_fault("pay", kind, count=1)
    out = _pay(emu, f"FAULT-{kind}")
    expected = SDK_OUTCOMES[kind]
    if expected.startswith("raises: "):
        assert not out["ok"], out
        assert expected.removeprefix("raises: ") in out["error"], out["error"]
    else:
        assert out["ok"], out
        assert out["body"]["result"]["resultCode"] == "SUCCESS"
    # The payment went through regardless: only the answer was spoiled.
    inquiry = emu.sdk.body("inquiry", emu.client(emu.app()), paymentRequestId=f"FAULT-{kind}")
    assert inquiry["paymentStatus"] == "SUCCESS"
    entry = emu.control.requests(path="/payments/pay")[0]
    assert entry["responseFault"] == kind
