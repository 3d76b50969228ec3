"""Issue #12, production fidelity: defaults that behave like the real gateway, with raw signed
requests (the SDK end-to-end counterparts are in tests/test_e2e_fidelity.py)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.sandbox.service import set_notification_url
from emulator.settings import Settings, bundled_fixtures
from emulator.signing import canonical_message, load_private_key, sign, signature_header

from ..conftest import NOTIFY_URL, Gateway, pay_body
from ..support import POSTGRES_ENV, postgres_database

PAY = "/ams/sandbox/api/v1/payments/pay"


def _gateway(settings: Settings) -> Iterator[Gateway]:
    with TestClient(create_app(settings)) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())


def journal(gw: Gateway) -> dict[str, Any]:
    entry: dict[str, Any] = gw.http.get("/_emulator/requests").json()["requests"][0]
    return entry


def paid(gw: Gateway, request_id: str, **kw: Any) -> dict[str, Any]:
    body = gw.call("pay", pay_body(gw.code(), request_id=request_id, **kw))
    assert body["result"]["resultCode"] == "SUCCESS", body
    return body


# -- 1. the Java SDK's wire format ----------------------------------------------------------------


def java_post(gw: Gateway, body: dict[str, Any]) -> Any:
    """What global-open-sdk-java 2.2.8 sends: compact fastjson with sorted keys, epoch-ms time."""
    app = gw.app()
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    req_time = str(int(time.time() * 1000))
    message = canonical_message(method="POST", path=PAY, client_id=app["clientId"], time=req_time, body=raw)
    signature = sign(message, load_private_key(app["merchantPrivateKeyPem"]))
    return gw.http.post(
        PAY,
        content=raw,
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "Request-Time": req_time,
            "Signature": signature_header(signature),
            "User-Agent": "global-open-sdk-java/2.2.8",
        },
    )


@pytest.mark.parametrize("spelling", ["PAYMENTCODE", "ORDERCODE", "ENTRYCODE"])
def test_java_enum_spellings_are_accepted_and_journaled(gateway: Gateway, spelling: str) -> None:
    body = pay_body(gateway.code(), request_id=f"JAVA-{spelling}")
    body["paymentFactor"]["inStorePaymentScenario"] = spelling
    if spelling != "PAYMENTCODE":
        del body["paymentMethod"]["paymentMethodId"]
        body["order"]["env"]["userAgent"] = "Mozilla/5.0 AlipayClient/10.1.32.600"
    answer = java_post(gateway, body).json()
    assert answer["result"]["resultCode"] == "SUCCESS", answer
    documented = {"PAYMENTCODE": "PaymentCode", "ORDERCODE": "OrderCode", "ENTRYCODE": "EntryCode"}[spelling]
    if spelling == "ORDERCODE":
        assert answer["orderCodeForm"]["codeDetails"][0]["codeValue"]
    if spelling == "ENTRYCODE":
        assert answer["redirectActionForm"]["redirectUrl"]
    entry = journal(gateway)
    assert spelling in entry["note"] and documented in entry["note"]
    # Stored under the documented name: inquiry and replay treat it like any other pay.
    again = java_post(gateway, body).json()
    assert again["paymentId"] == answer["paymentId"]


def test_other_scenario_spellings_stay_param_illegal(gateway: Gateway) -> None:
    body = pay_body(gateway.code())
    body["paymentFactor"]["inStorePaymentScenario"] = "paymentcode"
    answer = gateway.call("pay", body)
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert "inStorePaymentScenario" in answer["result"]["resultMessage"]


# -- 2. paymentNotifyUrl ------------------------------------------------------------------------


def test_pay_without_notify_url_is_param_illegal(gateway: Gateway) -> None:
    answer = gateway.call("pay", pay_body(gateway.code(), notify_url=None))
    assert answer == {
        "result": {
            "resultCode": "PARAM_ILLEGAL",
            "resultStatus": "F",
            "resultMessage": answer["result"]["resultMessage"],
        }
    }
    assert "paymentNotifyUrl" in answer["result"]["resultMessage"]
    # Nothing was created: the same id pays fine once the URL is there.
    paid(gateway, "PR-1")


def test_the_applications_notification_url_stands_in(gateway: Gateway) -> None:
    rt = gateway.http.app.state.runtime  # type: ignore[attr-defined]
    with rt.db.write() as session:
        set_notification_url(session, gateway.app()["clientId"], "http://127.0.0.1:9/app-notify")
    rt.directory.invalidate()
    fallback = gateway.call("pay", pay_body(gateway.code(), request_id="APP-URL", notify_url=None))
    assert fallback["result"]["resultCode"] == "SUCCESS", fallback
    explicit = paid(gateway, "REQ-URL")  # the URL in the request wins
    urls = {
        n["paymentId"]: n["url"] for n in gateway.http.get("/_emulator/notifications").json()["notifications"]
    }
    assert urls[fallback["paymentId"]] == "http://127.0.0.1:9/app-notify"
    assert urls[explicit["paymentId"]] == NOTIFY_URL


def test_fixtures_can_give_a_notification_url(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(bundled_fixtures(), fixtures)
    toml = fixtures / "sandbox.toml"
    marker = 'test_currency = "USD"\n'
    toml.write_text(
        toml.read_text().replace(marker, marker + 'notification_url = "http://127.0.0.1:9/seeded"\n', 1)
    )
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, fixtures=fixtures)
    for gw in _gateway(settings):
        answer = gw.call("pay", pay_body(gw.code(), notify_url=None))
        assert answer["result"]["resultCode"] == "SUCCESS", answer


def test_notify_url_optional_setting(settings: Settings) -> None:
    for gw in _gateway(settings.model_copy(update={"notify_url_optional": True})):
        answer = gw.call("pay", pay_body(gw.code(), notify_url=None))
        assert answer["result"]["resultCode"] == "SUCCESS", answer


# -- 4. an unpaid order code is PROCESSING -------------------------------------------------------


@pytest.mark.parametrize("scenario", ["OrderCode", "EntryCode"])
def test_unpaid_order_and_entry_codes_inquire_as_processing(gateway: Gateway, scenario: str) -> None:
    body = pay_body("", request_id=f"UNPAID-{scenario}")
    body["paymentFactor"]["inStorePaymentScenario"] = scenario
    del body["paymentMethod"]["paymentMethodId"]
    body["order"]["env"]["userAgent"] = "Mozilla/5.0 AlipayClient/10.1.32.600"
    created = gateway.call("pay", body)
    assert created["result"]["resultCode"] == "SUCCESS"  # "code generated", not paid
    inquiry = gateway.call("inquiryPayment", {"paymentId": created["paymentId"]})
    assert (inquiry["paymentStatus"], inquiry["paymentResultCode"]) == ("PROCESSING", "PAYMENT_IN_PROCESS")
    code_value = (
        created["orderCodeForm"]["codeDetails"][0]["codeValue"]
        if scenario == "OrderCode"
        else created["redirectActionForm"]["redirectUrl"]
    )
    scan = gateway.http.post(
        "/_emulator/wallet/scan", json={"buyer": gateway.buyer()["loginId"], "codeValue": code_value}
    )
    assert scan.status_code == 200, scan.text
    inquiry = gateway.call("inquiryPayment", {"paymentId": created["paymentId"]})
    assert (inquiry["paymentStatus"], inquiry["paymentResultCode"]) == ("SUCCESS", "SUCCESS")


# -- 5. refused refunds leave no record; failed pays answer result alone ------------------------


@pytest.mark.parametrize(
    ("currency", "value", "code"),
    [("USD", "1001", "REFUND_AMOUNT_EXCEED"), ("JPY", "10", "CURRENCY_NOT_SUPPORT")],
)
def test_a_refused_refund_was_never_created(gateway: Gateway, currency: str, value: str, code: str) -> None:
    payment = paid(gateway, "PR-REFUND")
    refused = gateway.call(
        "refund",
        {
            "refundRequestId": "R-REFUSED",
            "paymentId": payment["paymentId"],
            "refundAmount": {"currency": currency, "value": value},
        },
    )
    assert refused == {"result": refused["result"]} and refused["result"]["resultCode"] == code
    lookup = gateway.call("inquiryRefund", {"refundRequestId": "R-REFUSED"})
    assert lookup["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert "transactions" not in gateway.call("inquiryPayment", {"paymentId": payment["paymentId"]})
    # The id is free: a valid refund may use it now.
    ok = gateway.call(
        "refund",
        {
            "refundRequestId": "R-REFUSED",
            "paymentId": payment["paymentId"],
            "refundAmount": {"currency": "USD", "value": "400"},
        },
    )
    assert ok["result"]["resultCode"] == "SUCCESS"
    found = gateway.call("inquiryRefund", {"refundRequestId": "R-REFUSED"})
    assert found["refundStatus"] == "SUCCESS" and "refundFailReason" not in found
    listed = gateway.call("inquiryPayment", {"paymentId": payment["paymentId"]})["transactions"]
    assert [t["transactionRequestId"] for t in listed] == ["R-REFUSED"]


def test_a_failed_pay_answers_result_alone(gateway: Gateway) -> None:
    answer = gateway.call("pay", pay_body(gateway.code("frozen"), request_id="FROZEN"))
    assert answer == {
        "result": {
            "resultCode": "USER_STATUS_ABNORMAL",
            "resultStatus": "F",
            "resultMessage": answer["result"]["resultMessage"],
        }
    }
    # The payment exists (inquiry finds it FAIL); its replay answers the same way.
    assert gateway.call("inquiryPayment", {"paymentRequestId": "FROZEN"})["paymentStatus"] == "FAIL"


# -- 6. validation as documented ----------------------------------------------------------------


def _set(path: str, value: Any) -> Any:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for p in parents:
            node = node[p]
        node[last] = value

    return mutate


BAD_PAYS = [
    ("order.env.storeTerminalRequestTime", "2026-11-26 10:00:00+08:00"),
    ("order.env.storeTerminalRequestTime", "2026-11-26T10:00:00"),
    ("order.env.storeTerminalRequestTime", "yesterday"),
    ("order.env.storeTerminalRequestTime", "2026-13-40T10:00:00+08:00"),
    ("paymentExpiryTime", "2026-11-26T10:00:00"),
    ("paymentRequestId", ""),
    ("paymentRequestId", "has space"),
    ("paymentRequestId", "a/b"),
    ("paymentRequestId", "caf\u00e9"),
    ("paymentRequestId", "nul\u0000byte"),
    ("order.orderDescription", "two\u0000coffees"),
    ("order.orderDescription", "line\nbreak"),
    ("order.merchant.store.storeName", "bell\u0007"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_gateway(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Gateway]:
    if request.param == "postgres" and not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set")
    database: Any = postgres_database() if request.param == "postgres" else nullcontext(None)
    with database as url:
        yield from _gateway(settings.model_copy(update={"database_url": url}))


@pytest.mark.parametrize(("field", "value"), BAD_PAYS)
def test_bad_values_are_param_illegal_naming_the_field(
    any_db_gateway: Gateway, field: str, value: str
) -> None:
    gw = any_db_gateway
    body = pay_body(gw.code(), request_id="VALID-ID")
    _set(field, value)(body)
    answer = gw.call("pay", body)
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL", answer
    assert field in answer["result"]["resultMessage"], answer


@pytest.mark.parametrize(
    "body",
    [
        {"paymentRequestId": "nul\u0000"},
        {"paymentRequestId": "x", "unknownField": "tab\there"},
        {"paymentRequestId": "x", "nested": [{"deep": "\u001f"}]},
    ],
    ids=["id", "unknown-field", "nested"],
)
def test_control_characters_are_refused_in_every_string(
    any_db_gateway: Gateway, body: dict[str, Any]
) -> None:
    answer = any_db_gateway.call("inquiryPayment", body)
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL", answer
    assert "control characters" in answer["result"]["resultMessage"]


def test_refund_request_ids_follow_the_same_charset(gateway: Gateway) -> None:
    payment = paid(gateway, "PR-RID")
    for bad in ("", "a b", "r/1", "\u00fc"):
        answer = gateway.call(
            "refund",
            {
                "refundRequestId": bad,
                "paymentId": payment["paymentId"],
                "refundAmount": {"currency": "USD", "value": "1"},
            },
        )
        assert answer["result"]["resultCode"] == "PARAM_ILLEGAL", (bad, answer)
        assert "refundRequestId" in answer["result"]["resultMessage"]


@pytest.mark.parametrize(
    "stamp", ["2026-11-26T10:00:00+08:00", "2026-11-26T02:00:00Z", "2026-11-26T10:00:00.123+0800"]
)
def test_iso_datetimes_with_offset_are_accepted(gateway: Gateway, stamp: str) -> None:
    body = pay_body(gateway.code())
    body["order"]["env"]["storeTerminalRequestTime"] = stamp
    assert gateway.call("pay", body)["result"]["resultCode"] == "SUCCESS"


def test_lenient_settings_restore_the_old_acceptance(settings: Settings) -> None:
    lenient = settings.model_copy(update={"lenient_request_ids": True, "lenient_datetimes": True})
    for gw in _gateway(lenient):
        body = pay_body(gw.code(), request_id="order 1/caf\u00e9")
        body["order"]["env"]["storeTerminalRequestTime"] = "yesterday"
        assert gw.call("pay", body)["result"]["resultCode"] == "SUCCESS"
        # Control characters stay refused: they break storage on PostgreSQL.
        nul = pay_body(gw.code(), request_id="nul\u0000")
        assert gw.call("pay", nul)["result"]["resultCode"] == "PARAM_ILLEGAL"


# -- 9. response-signature faults ---------------------------------------------------------------


def _verifies(gw: Gateway, response: Any, *, key_version: str = "1") -> bool:
    from emulator.signing import SignatureMismatch, load_public_key, parse_signature_header, verify

    sig = parse_signature_header(response.headers["signature"])
    assert sig.key_version == key_version
    message = canonical_message(
        method="POST",
        path=PAY,
        client_id=response.headers["client-id"],
        time=response.headers["response-time"],
        body=response.content,
    )
    try:
        verify(message, sig.signature, load_public_key(gw.sandbox["alipayPublicKey"]))
    except SignatureMismatch:
        return False
    return True


@pytest.mark.parametrize(
    ("kind", "headers", "verifies"),
    [
        ("signature_tampered", {"signature", "response-time"}, False),
        ("unsigned_success", set(), None),
        ("signature_only", {"signature"}, None),
        ("response_time_only", {"response-time"}, None),
        ("wrong_key_version", {"signature", "response-time"}, True),
        ("body_tampered_after_signing", {"signature", "response-time"}, False),
    ],
)
def test_response_signature_faults_spoil_only_the_answer(
    gateway: Gateway, kind: str, headers: set[str], verifies: bool | None
) -> None:
    added = gateway.http.post("/_emulator/faults", json={"api": "pay", "kind": kind})
    assert added.status_code == 200, added.text
    response = gateway.post("pay", pay_body(gateway.code(), request_id=f"F-{kind}"))
    assert response.status_code == 200
    assert {h for h in ("signature", "response-time") if h in response.headers} == headers
    if verifies is not None:
        assert (
            _verifies(gateway, response, key_version="2" if kind == "wrong_key_version" else "1") is verifies
        )
    answer = response.json()
    assert answer["result"]["resultCode"] == "SUCCESS"
    if kind == "body_tampered_after_signing":
        assert answer["paymentAmount"]["value"] == "1001"  # the real payment is 1000
    # The state change happened as usual; the next answer is clean and signed.
    inquiry = gateway.post("inquiryPayment", {"paymentRequestId": f"F-{kind}"})
    assert inquiry.json()["paymentStatus"] == "SUCCESS"
    assert inquiry.json()["paymentAmount"]["value"] == "1000"
    assert "signature" in inquiry.headers and "response-time" in inquiry.headers
    # The journal says which variant was sent.
    entries = gateway.http.get("/_emulator/requests").json()["requests"]
    pay_entry = next(e for e in entries if e["path"] == PAY)
    assert pay_entry["responseFault"] == kind


def test_response_faults_work_from_the_per_call_header(gateway: Gateway) -> None:
    response = gateway.post(
        "inquiryPayment",
        {"paymentRequestId": "nope"},
        headers={"X-Emulator-Scenario": "fault=unsigned_success"},
    )
    assert response.json()["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert "signature" not in response.headers and "response-time" not in response.headers
    assert gateway.http.post("/_emulator/faults", json={"api": "pay", "kind": "nope"}).status_code == 422
