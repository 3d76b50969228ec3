"""An acceptance run for the test session, with the alipay-emulator pytest plugin.

    pip install alipay-emulator pytest
    pytest examples/acceptance --alipay-acceptance-junit acceptance.xml

The POS here is a few signed HTTP calls; in your suite it is your own POS code, pointed at the
emulator. The run is finished at the end of the session and its JUnit report written.
"""

import json

import httpx

from emulator.signing import canonical_message, load_private_key, sign, signature_header


def call(alipay_emulator, app, api, body):
    """One signed gateway call, as an SDK makes it (plain HTTP to keep the example short)."""
    raw = json.dumps(body).encode()
    path = "/ams/sandbox/api/v1/payments/" + api
    when = "2026-11-26T10:00:00+08:00"
    message = canonical_message(method="POST", path=path, client_id=app["clientId"], time=when, body=raw)
    signature = sign(message, load_private_key(app["merchantPrivateKeyPem"]))
    headers = {
        "content-type": "application/json; charset=UTF-8",
        "client-id": app["clientId"],
        "request-time": when,
        "signature": signature_header(signature),
    }
    return httpx.post(alipay_emulator.http_url + path, content=raw, headers=headers).json()


def pay(alipay_emulator, app, code, request_id):
    amount = {"currency": app["testCurrency"], "value": "1000"}
    store = {"referenceStoreId": "S1", "storeMCC": "5411"}
    return call(alipay_emulator, app, "pay", {
        "productCode": "IN_STORE_PAYMENT",
        "paymentRequestId": request_id,
        "order": {
            "referenceOrderId": "ORDER-" + request_id,
            "orderDescription": "Two coffees",
            "orderAmount": amount,
            "merchant": {"referenceMerchantId": "M1", "merchantMCC": "5411", "merchantName": "Cafe", "store": store},
        },
        "paymentAmount": amount,
        "paymentMethod": {"paymentMethodType": "CONNECT_WALLET", "paymentMethodId": code},
        "paymentFactor": {"inStorePaymentScenario": "PaymentCode"},
        "paymentNotifyUrl": alipay_emulator.receiver.url,
    })


def test_direct_payment(alipay_emulator, alipay_acceptance, alipay_sandbox):
    paid = pay(alipay_emulator, alipay_sandbox.app(), alipay_sandbox.payment_code(), "checkout-1")
    assert paid["result"]["resultStatus"] == "S"


def test_system_error_is_followed_by_an_inquiry(alipay_emulator, alipay_acceptance, alipay_sandbox):
    case = alipay_acceptance.start("SPOT-005")      # the next pay answers F SYSTEM_ERROR
    app = alipay_sandbox.app()
    answer = pay(alipay_emulator, app, case["values"]["paymentCode"], "checkout-2")
    assert answer["result"]["resultCode"] == "SYSTEM_ERROR"
    call(alipay_emulator, app, "inquiryPayment", {"paymentRequestId": "checkout-2"})   # do not pay again
    assert alipay_acceptance.wait("SPOT-005")["status"] == "passed"


def test_grades_outlive_the_reset_between_tests(alipay_acceptance, alipay_sandbox):
    assert alipay_acceptance.case("SPOT-001")["status"] == "passed"
