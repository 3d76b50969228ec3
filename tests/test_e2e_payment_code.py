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
    paid = emu.sdk.body(
        "pay_code", client, paymentRequestId="E2E-1", currency=cur, amount=1234, paymentCode=code
    )
    assert paid["result"]["resultCode"] == "SUCCESS"
    assert paid["paymentTime"] and paid["pspCustomerInfo"]["pspCustomerId"]
    replay = emu.sdk.body(
        "pay_code", client, paymentRequestId="E2E-1", currency=cur, amount=1234, paymentCode=code
    )
    assert replay == paid
    inquiry = emu.sdk.body("inquiry", client, paymentRequestId="E2E-1")
    assert inquiry["paymentStatus"] == "SUCCESS"
    refund = emu.sdk.body(
        "refund",
        client,
        refundRequestId="E2E-R1",
        paymentId=paid["paymentId"],
        currency=cur,
        amount=234,
    )
    assert refund["result"]["resultCode"] == "SUCCESS"
    assert emu.sdk.body("inquiry_refund", client, refundRequestId="E2E-R1")["refundStatus"] == "SUCCESS"
    cancel = emu.sdk.body("cancel", client, paymentId=paid["paymentId"])
    assert cancel["result"]["resultCode"] == "ORDER_STATUS_INVALID"


def test_failures_reach_the_sdk(emu: Live) -> None:
    app = emu.app()
    client = emu.client(app)
    cur = app["testCurrency"]
    poor = emu.control.payment_code(emu.buyer("insufficient_balance")["loginId"])
    body = emu.sdk.body(
        "pay_code", client, paymentRequestId="E2E-F", currency=cur, amount=100000, paymentCode=poor
    )
    assert body["result"] == {
        "resultCode": "USER_BALANCE_NOT_ENOUGH",
        "resultStatus": "F",
        "resultMessage": "The buyer's balance is not enough.",
    }
    verify = emu.control.payment_code(emu.buyer("needs_verification")["loginId"])
    body = emu.sdk.body(
        "pay_code", client, paymentRequestId="E2E-U", currency=cur, amount=100, paymentCode=verify
    )
    assert body["result"]["resultStatus"] == "U"
    code = emu.control.payment_code(emu.buyer()["loginId"])
    body = emu.sdk.body(
        "pay_code", client, paymentRequestId="E2E-C", currency="EUR", amount=100, paymentCode=code
    )
    assert body["result"]["resultCode"] == "CURRENCY_NOT_SUPPORT"
    other = emu.app(index=1)
    wrong_key = emu.client(app, private_key=other["merchantPrivateKeyPem"])
    # INVALID_SIGNATURE goes out unsigned, as production's: the SDK raises instead of showing
    # the code (issue #12); the journal still explains.
    out = emu.sdk.call("inquiry", wrong_key, paymentRequestId="E2E-1")
    assert not out["ok"] and "signature not exist" in out["error"], out
    entry = emu.control.requests(client_id=app["clientId"], result_code="INVALID_SIGNATURE")[0]
    assert entry["diagnosis"]["verifiedString"].startswith(
        f"POST /ams/sandbox/api/v1/payments/inquiryPayment\n{app['clientId']}."
    )


def test_isv_with_agent_token_through_the_sdk(emu: Live) -> None:
    isv = emu.app("ISV")
    cur = isv["testCurrency"]
    code = emu.control.payment_code(emu.buyer()["loginId"])
    client = emu.client(isv, agent_token=isv["testToken"])
    paid = emu.sdk.body(
        "pay_code", client, paymentRequestId="ISV-1", currency=cur, amount=2500, paymentCode=code
    )
    assert paid["result"]["resultCode"] == "SUCCESS"
    refund = emu.sdk.body(
        "refund",
        client,
        refundRequestId="ISV-R",
        paymentId=paid["paymentId"],
        currency=cur,
        amount=2500,
    )
    assert refund["result"]["resultCode"] == "SUCCESS"
    no_token = emu.sdk.body("inquiry", emu.client(isv), paymentId=paid["paymentId"])
    assert no_token["result"]["resultCode"] == "ACCESS_DENIED"


def test_key_version_two_through_the_sdk(emu: Live) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from emulator.signing import private_key_pkcs1_pem, public_key_b64

    app = emu.app()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    emu.control.put_public_key(app["clientId"], public_key_b64(key.public_key()), key_version="2")
    client = emu.client(app, private_key=private_key_pkcs1_pem(key))
    body = emu.sdk.body("inquiry", client, paymentRequestId="none", keyVersion="2")
    assert body["result"]["resultCode"] == "ORDER_NOT_EXIST"
    # Signed with key 2, sent as version 1: INVALID_SIGNATURE, unsigned, so the SDK raises.
    out = emu.sdk.call("inquiry", client, paymentRequestId="none")
    assert not out["ok"] and "signature not exist" in out["error"], out
    assert emu.control.requests(client_id=app["clientId"], limit=1)[0]["resultCode"] == "INVALID_SIGNATURE"


def test_concurrent_identical_pays_over_the_wire(emu: Live) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from .conftest import pay_body
    from .support import signed_post

    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    body = pay_body(code, request_id="RACE", currency=app["testCurrency"])
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: signed_post(emu.process.http_url, app, "pay", body), range(50)))
    assert all(a == answers[0] for a in answers)
    assert answers[0]["result"]["resultCode"] == "SUCCESS"
