"""Order code, entry code, the buyer's wallet, triggers and notifications, driven by the official SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.testing import ControlApiError, NotificationReceiver, ReceivedNotification

from .conftest import Live, pay_body

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as r:
        yield r


def sdk_verifies(emu: Live, n: ReceivedNotification) -> bool:
    out = emu.sdk.body(
        "check_webhook",
        None,
        path=n.path,
        clientId=n.headers["client-id"],
        requestTime=n.headers["request-time"],
        body=n.body.decode(),
        signature=n.headers["signature"],
        alipayPublicKey=emu.sandbox["alipayPublicKey"],
    )
    return bool(out["verified"])


def test_order_code_scanned_by_a_buyer_notifies_the_merchant(
    emu: Live, receiver: NotificationReceiver
) -> None:
    app = emu.app()
    client = emu.client(app)
    cur = app["testCurrency"]
    url = receiver.url + "?store=S1"
    body = emu.sdk.body(
        "pay_order_code", client, paymentRequestId="OC-1", currency=cur, amount=4200, notifyUrl=url
    )
    assert body["result"]["resultCode"] == "SUCCESS"
    details = body["orderCodeForm"]["codeDetails"]
    assert details[0]["codeValueType"] == "QRCODE" and details[0]["displayType"] == "TEXT"
    assert any(d["displayType"] != "TEXT" for d in details)
    assert httpx.get(details[1]["codeValue"]).headers["content-type"] == "image/png"
    assert emu.sdk.body("inquiry", client, paymentRequestId="OC-1")["paymentStatus"] == "PROCESSING"
    paid = emu.control.scan(emu.buyer()["loginId"], details[0]["codeValue"])
    assert paid["paymentStatus"] == "SUCCESS"
    inquiry = emu.sdk.body("inquiry", client, paymentRequestId="OC-1")
    assert inquiry["paymentStatus"] == "SUCCESS" and inquiry["pspCustomerInfo"]["pspCustomerId"]
    [note] = receiver.wait_for(1)
    assert note.path == "/notify?store=S1"
    assert note.json()["notifyType"] == "PAYMENT_RESULT"
    assert note.json()["paymentId"] == body["paymentId"] and note.json()["result"]["resultStatus"] == "S"
    assert note.headers["client-id"] == app["clientId"]
    assert sdk_verifies(emu, note)
    assert note.verify(emu.sandbox["alipayPublicKey"])
    # The code can be paid once only.
    with pytest.raises(ControlApiError) as again:
        emu.control.scan(emu.buyer()["loginId"], details[0]["codeValue"])
    assert again.value.status_code == 409
    # Replaying the pay returns the same order code.
    assert (
        emu.sdk.body(
            "pay_order_code",
            client,
            paymentRequestId="OC-1",
            currency=cur,
            amount=4200,
            notifyUrl=url,
        )["paymentId"]
        == body["paymentId"]
    )


def test_entry_code_redirects_to_the_wallet_page(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    body = emu.sdk.body(
        "pay_entry_code",
        client,
        paymentRequestId="EC-1",
        currency=app["testCurrency"],
        amount=300,
        userAgent="Mozilla/5.0 AlipayClient/10.1.32.600 AlipayConnect",
    )
    redirect = body["redirectActionForm"]["redirectUrl"]
    with httpx.Client(follow_redirects=True) as browser:
        page = browser.get(redirect)
        assert page.status_code == 200 and "Emulator wallet" in page.text
        buyer = emu.buyer()["loginId"]
        # The page's form carries a CSRF token (the cookie's value, repeated in a hidden field).
        token = browser.cookies["alipay_emulator_csrf"]
        done = browser.post(redirect + "/pay", data={"buyer": buyer, "csrf_token": token})
    assert done.status_code == 200 and 'id="status">SUCCESS<' in done.text
    assert "<button>Pay</button>" not in done.text
    assert emu.sdk.body("inquiry", client, paymentId=body["paymentId"])["paymentStatus"] == "SUCCESS"


def test_verification_approve_decline_and_timeout(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    cur = app["testCurrency"]
    login = emu.buyer("needs_verification")["loginId"]
    results = {}
    for rid, approve in (("V-OK", True), ("V-NO", False), ("V-LATE", None)):
        code = emu.control.payment_code(login)
        body = emu.sdk.body(
            "pay_code", client, paymentRequestId=rid, currency=cur, amount=100, paymentCode=code
        )
        assert body["result"]["resultCode"] == "PAYMENT_IN_PROCESS"
        if approve is not None:
            with pytest.raises(ControlApiError) as wrong:
                emu.control.confirm(emu.buyer()["loginId"], body["paymentId"])
            assert wrong.value.status_code == 403
            emu.control.confirm(login, body["paymentId"], approve=approve)
        results[rid] = body["paymentId"]
    emu.control.advance_clock(seconds=61)
    status = {rid: emu.sdk.body("inquiry", client, paymentId=pid) for rid, pid in results.items()}
    assert status["V-OK"]["paymentStatus"] == "SUCCESS"
    assert (status["V-NO"]["paymentStatus"], status["V-NO"]["paymentResultCode"]) == (
        "FAIL",
        "USER_PAYMENT_VERIFICATION_FAILED",
    )
    assert (status["V-LATE"]["paymentStatus"], status["V-LATE"]["paymentResultCode"]) == (
        "FAIL",
        "USER_PAYMENT_VERIFICATION_FAILED",
    )


def test_order_code_expires_and_closes(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    cur = app["testCurrency"]
    body = emu.sdk.body("pay_order_code", client, paymentRequestId="OC-X", currency=cur, amount=100)
    code = body["orderCodeForm"]["codeDetails"][0]["codeValue"]
    emu.control.advance_clock(seconds=181)
    inquiry = emu.sdk.body("inquiry", client, paymentRequestId="OC-X")
    assert (inquiry["paymentStatus"], inquiry["paymentResultCode"]) == ("FAIL", "ORDER_IS_CLOSED")
    again = emu.sdk.body("pay_order_code", client, paymentRequestId="OC-X", currency=cur, amount=100)
    assert again["result"]["resultCode"] == "ORDER_IS_CLOSED"
    with pytest.raises(ControlApiError) as late:
        emu.control.scan(emu.buyer()["loginId"], code)
    assert late.value.status_code == 409
    with pytest.raises(ControlApiError) as unknown:
        emu.control.scan(emu.buyer()["loginId"], "https://qr.example/none")
    assert unknown.value.status_code == 404


def test_notification_retries_on_the_emulator_clock(emu: Live, receiver: NotificationReceiver) -> None:
    emu.control.freeze_clock()
    receiver.script = [
        (500, {"error": "down"}),
        (200, {"result": {"resultStatus": "F", "resultCode": "PROCESS_FAIL"}}),
    ]
    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    paid = emu.sdk.body(
        "pay_code",
        emu.client(app),
        paymentRequestId="N-1",
        currency=app["testCurrency"],
        amount=100,
        paymentCode=code,
        notifyUrl=receiver.url,
    )
    receiver.wait_for(1)
    emu.control.advance_clock(seconds=119)
    time.sleep(1.5)
    assert len(receiver.received) == 1
    emu.control.advance_clock(seconds=1)
    assert len(receiver.wait_for(2)) == 2
    emu.control.advance_clock(seconds=600)
    notes = receiver.wait_for(3)
    emu.control.advance_clock(seconds=86400)
    time.sleep(1.5)
    assert len(receiver.received) == 3
    assert all(n.body == notes[0].body for n in notes)
    [record] = emu.control.notifications(payment_id=paid["paymentId"])
    assert record["status"] == "DELIVERED"
    attempts = record["attempts"]
    assert [a["httpStatus"] for a in attempts] == [500, 200, 200]
    assert [a["acknowledged"] for a in attempts] == [False, False, True]
    from datetime import datetime

    times = [datetime.fromisoformat(a["at"]) for a in attempts]
    assert [(t - times[0]).total_seconds() for t in times] == [0, 120, 720]
    resent = emu.control.resend_notification(record["id"])
    assert resent["acknowledged"] is True and len(receiver.wait_for(4)) == 4


def test_trigger_9901_answers_unknown_then_succeeds(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    code = emu.control.payment_code(emu.buyer()["loginId"])
    body = emu.sdk.body(
        "pay_code",
        client,
        paymentRequestId="T-9901",
        currency=app["testCurrency"],
        amount=9901,
        paymentCode=code,
    )
    assert (body["result"]["resultCode"], body["result"]["resultStatus"]) == (
        "UNKNOWN_EXCEPTION",
        "U",
    )
    assert emu.sdk.body("inquiry", client, paymentRequestId="T-9901")["paymentStatus"] == "PROCESSING"
    emu.control.advance_clock(seconds=3)
    assert emu.sdk.body("inquiry", client, paymentRequestId="T-9901")["paymentStatus"] == "SUCCESS"


def test_trigger_9903_inquiry_unknown_and_result_table(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    cur = app["testCurrency"]
    code = emu.control.payment_code(emu.buyer()["loginId"])
    assert (
        emu.sdk.body(
            "pay_code",
            client,
            paymentRequestId="T-9903",
            currency=cur,
            amount=9903,
            paymentCode=code,
        )["result"]["resultCode"]
        == "SUCCESS"
    )
    assert (
        emu.sdk.body("inquiry", client, paymentRequestId="T-9903")["result"]["resultCode"]
        == "UNKNOWN_EXCEPTION"
    )
    code = emu.control.payment_code(emu.buyer()["loginId"])
    limit = emu.sdk.body(
        "pay_code", client, paymentRequestId="T-9905", currency=cur, amount=9905, paymentCode=code
    )
    assert limit["result"]["resultCode"] == "PAYMENT_AMOUNT_EXCEED_LIMIT"


def test_trigger_9902_never_answers_but_the_payment_succeeds(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    code = emu.control.payment_code(emu.buyer()["loginId"])
    started = time.monotonic()
    out = emu.sdk.call(
        "pay_code",
        client,
        paymentRequestId="T-9902",
        currency=app["testCurrency"],
        amount=9902,
        paymentCode=code,
    )
    assert not out["ok"], out
    assert time.monotonic() - started >= 14  # the SDK's own 15 s timeout
    assert emu.sdk.body("inquiry", client, paymentRequestId="T-9902")["paymentStatus"] == "SUCCESS"


def test_trigger_9904_inquiry_never_answers(emu: Live) -> None:
    from .support import signed_post

    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    signed_post(
        emu.process.http_url,
        app,
        "pay",
        pay_body(code, request_id="T-9904", currency=app["testCurrency"], amount=9904),
    )
    with pytest.raises(httpx.ReadTimeout):
        signed_post_timeout(emu, app, {"paymentRequestId": "T-9904"})


def signed_post_timeout(emu: Live, app: dict[str, Any], body: dict[str, Any]) -> None:
    import json as _json

    from emulator.signing import canonical_message, load_private_key, sign, signature_header

    raw = _json.dumps(body).encode()
    path = "/ams/sandbox/api/v1/payments/inquiryPayment"
    msg = canonical_message(method="POST", path=path, client_id=app["clientId"], time="1", body=raw)
    httpx.post(
        emu.process.http_url + path,
        content=raw,
        timeout=3,
        headers={
            "content-type": "application/json",
            "client-id": app["clientId"],
            "request-time": "1",
            "signature": signature_header(sign(msg, load_private_key(app["merchantPrivateKeyPem"]))),
        },
    )
