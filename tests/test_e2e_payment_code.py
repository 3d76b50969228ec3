"""The official Python SDK drives the PaymentCode flow over HTTPS against a running emulator."""

from __future__ import annotations

import pytest

from .conftest import Live

pytestmark = pytest.mark.e2e


def test_pay_inquiry_refund_cancel_with_the_sdk(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    code = emu.control.payment_code(emu.buyer()["loginId"])
    cur = app["testCurrency"]
    paid = emu.sdk.body("pay_code", client, paymentRequestId="E2E-1", currency=cur, amount=1234, paymentCode=code)
    assert paid["result"]["resultCode"] == "SUCCESS"
    assert paid["paymentTime"] and paid["pspCustomerInfo"]["pspCustomerId"]
    replay = emu.sdk.body("pay_code", client, paymentRequestId="E2E-1", currency=cur, amount=1234, paymentCode=code)
    assert replay == paid
    inquiry = emu.sdk.body("inquiry", client, paymentRequestId="E2E-1")
    assert inquiry["paymentStatus"] == "SUCCESS"
    refund = emu.sdk.body("refund", client, refundRequestId="E2E-R1", paymentId=paid["paymentId"], currency=cur, amount=234)
    assert refund["result"]["resultCode"] == "SUCCESS"
    assert emu.sdk.body("inquiry_refund", client, refundRequestId="E2E-R1")["refundStatus"] == "SUCCESS"
    cancel = emu.sdk.body("cancel", client, paymentId=paid["paymentId"])
    assert cancel["result"]["resultCode"] == "ORDER_STATUS_INVALID"
