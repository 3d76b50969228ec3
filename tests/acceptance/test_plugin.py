"""The pytest plugin's ``alipay_acceptance`` fixture: a run for the session, its JUnit at the end."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ..conftest import Live

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

INNER = """
import json

import httpx

from emulator.signing import canonical_message, load_private_key, sign, signature_header


def signed(app, api, body):
    raw = json.dumps(body).encode()
    path = "/ams/sandbox/api/v1/payments/" + api
    when = "2026-11-26T10:00:00+08:00"
    message = canonical_message(method="POST", path=path, client_id=app["clientId"], time=when, body=raw)
    headers = {
        "content-type": "application/json; charset=UTF-8",
        "client-id": app["clientId"],
        "request-time": when,
        "signature": signature_header(sign(message, load_private_key(app["merchantPrivateKeyPem"]))),
    }
    return httpx.post("URL" + path, content=raw, headers=headers).json()


def pay(app, code, rid):
    return signed(app, "pay", {
        "productCode": "IN_STORE_PAYMENT",
        "paymentRequestId": rid,
        "order": {
            "referenceOrderId": "ORDER-" + rid,
            "orderDescription": "plugin test",
            "orderAmount": {"currency": app["testCurrency"], "value": "1000"},
            "merchant": {"referenceMerchantId": "M1", "merchantMCC": "5411", "merchantName": "Shop",
                         "store": {"referenceStoreId": "S1", "storeMCC": "5411"}},
        },
        "paymentAmount": {"currency": app["testCurrency"], "value": "1000"},
        "paymentMethod": {"paymentMethodType": "CONNECT_WALLET", "paymentMethodId": code},
        "paymentFactor": {"inStorePaymentScenario": "PaymentCode"},
        "paymentNotifyUrl": "http://127.0.0.1:9/notify",
    })


def test_direct_payment(alipay_acceptance, alipay_sandbox):
    assert pay(alipay_sandbox.app(), alipay_sandbox.payment_code(), "PLUG-1")["result"]["resultStatus"] == "S"


def test_system_error_is_followed_by_an_inquiry(alipay_acceptance, alipay_sandbox):
    case = alipay_acceptance.start("SPOT-005")
    app = alipay_sandbox.app()
    assert pay(app, case["values"]["paymentCode"], "PLUG-2")["result"]["resultCode"] == "SYSTEM_ERROR"
    signed(app, "inquiryPayment", {"paymentRequestId": "PLUG-2"})
    assert alipay_acceptance.case("SPOT-005")["status"] == "passed"


def test_the_first_grade_survived_the_reset(alipay_acceptance, alipay_sandbox):
    assert alipay_acceptance.case("SPOT-001")["status"] == "passed"
"""


def test_acceptance_fixture_opens_a_run_and_writes_junit(
    pytester: pytest.Pytester, emu: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(INNER.replace("URL", emu.process.http_url))
    monkeypatch.setenv("ALIPAY_EMULATOR_URL", emu.process.http_url)
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "--alipay-acceptance-junit", "out.xml"
    )
    result.assert_outcomes(passed=3)
    suite = ET.parse(pytester.path / "out.xml").getroot()
    names = {t.get("name", "").split()[0]: t for t in suite.findall("testcase")}
    assert names["SPOT-001"].find("failure") is None and names["SPOT-005"].find("failure") is None
    failure = names["SPOT-003"].find("failure")
    assert failure is not None and "never started" in (failure.get("message") or "")
    runs = emu.control.acceptance_runs(emu.app()["clientId"])
    assert runs[0]["status"] == "finished"
