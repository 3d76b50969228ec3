"""Registration through the gateway pipeline, in process: idempotency, review, codes, the gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings

from ..conftest import Gateway, pay_body


@pytest.fixture(autouse=True)
def _frozen_clock(gateway: Gateway) -> None:
    # Review times are exact to the second: a loaded machine must not let the clock run on.
    assert gateway.http.post("/_emulator/clock", json={"frozen": True}).status_code == 200


def reg_body(request_id: str = "REG-1", merchant: str = "SUB-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "productCodes": ["IN_STORE_PAYMENT"],
        "registrationRequestId": request_id,
        "merchantInfo": {
            "referenceMerchantId": merchant,
            "merchantDisplayName": "Corner Noodles",
            "merchantMCC": "5812",
            "registrationDetail": {
                "legalName": "Corner Noodles Pte Ltd",
                "registrationType": "ENTERPRISE_REGISTRATION",
            },
        },
    }
    body.update(extra)
    return body


def call(
    gw: Gateway, api: str, body: dict[str, Any], *, app: dict[str, Any] | None = None, sandbox: bool = True
) -> dict[str, Any]:
    prefix = "/ams/sandbox/api/v1/merchants/" if sandbox else "/ams/api/v1/merchants/"
    return gw.call(api, body, app=app or gw.by_role("ACQUIRER"), path=prefix + api)


def code(body: dict[str, Any]) -> str:
    return str(body["result"]["resultCode"])


def test_register_inquire_review_and_info(gateway: Gateway) -> None:
    answer = call(gateway, "registration", reg_body(passThroughInfo='{"k":"v"}'))
    assert answer == {
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "passThroughInfo": '{"k":"v"}',
    }
    status = call(gateway, "inquiryRegistrationStatus", {"registrationRequestId": "REG-1"}, sandbox=False)
    assert status["registrationResult"] == {"registrationStatus": "PENDING"}
    assert status["pspRegistrationResultList"] == [
        {"pspName": "ALIPAY_CN", "registrationResult": {"registrationStatus": "PENDING"}}
    ]
    [row] = gateway.http.get("/_emulator/registrations").json()["registrations"]
    assert row["status"] == "PENDING" and row["outcome"] == "APPROVED" and row["chosenBy"] == "default"
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 299})
    assert code(call(gateway, "registration", reg_body("REG-2"))) == "REGISTRATION_UNDER_REVIEW"
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 1})
    status = call(gateway, "inquiryRegistrationStatus", {"referenceMerchantId": "SUB-1"})
    assert status["registrationResult"] == {"registrationStatus": "APPROVED"}
    info = call(gateway, "inquiryRegistrationInfo", {"referenceMerchantId": "SUB-1"})
    assert info["merchantInfo"]["merchantMCC"] == "5812"
    assert info["merchantInfo"]["registrationDetail"]["legalName"] == "Corner Noodles Pte Ltd"
    assert info["productCodes"] == ["IN_STORE_PAYMENT"]
    assert "storeInfo" not in info
    assert code(call(gateway, "registration", reg_body("REG-3"))) == "REPEAT_REGISTRATION"
    # A store of the approved merchant is a registration of its own.
    store = {"referenceStoreId": "ST-1", "storeName": "Orchard Road", "storeMCC": "5812"}
    assert code(call(gateway, "registration", reg_body("REG-4", storeInfo=store))) == "SUCCESS"
    registered = gateway.http.get("/_emulator/sandbox").json()["registeredMerchants"]
    assert [(r["referenceMerchantId"], r["referenceStoreId"]) for r in registered] == [("SUB-1", None)]


def test_idempotency_on_registration_request_id(gateway: Gateway) -> None:
    first = call(gateway, "registration", reg_body())
    # Same request again (another notify URL is not a key field): the same answer.
    again = call(gateway, "registration", reg_body(registrationNotifyURL="http://127.0.0.1:9/n"))
    assert again == first
    other = reg_body()
    other["merchantInfo"]["merchantMCC"] = "5411"
    assert code(call(gateway, "registration", other)) == "REPEAT_REQ_INCONSISTENT"
    assert len(gateway.http.get("/_emulator/registrations").json()["registrations"]) == 1


def test_unknown_record_and_validation_naming_the_field(gateway: Gateway) -> None:
    for api in ("inquiryRegistrationStatus", "inquiryRegistrationInfo"):
        assert code(call(gateway, api, {"referenceMerchantId": "NOPE"})) == "RECORD_NOT_FOUND"
        empty = call(gateway, api, {})
        assert code(empty) == "PARAM_ILLEGAL" and "referenceMerchantId" in empty["result"]["resultMessage"]
    bad = reg_body()
    del bad["merchantInfo"]["merchantMCC"]
    answer = call(gateway, "registration", bad)
    assert code(answer) == "PARAM_ILLEGAL" and "merchantInfo.merchantMCC" in answer["result"]["resultMessage"]
    answer = call(gateway, "registration", reg_body(productCodes=["ONLINE"]))
    assert code(answer) == "PARAM_ILLEGAL" and "productCodes.0" in answer["result"]["resultMessage"]
    answer = call(gateway, "registration", reg_body(registrationNotifyURL="ftp://x"))
    assert code(answer) == "PARAM_ILLEGAL" and "registrationNotifyURL" in answer["result"]["resultMessage"]
    assert gateway.http.get("/_emulator/registrations").json()["registrations"] == []


def test_only_acquirers_and_isvs_register(gateway: Gateway) -> None:
    answer = call(gateway, "registration", reg_body(), app=gateway.by_role("MERCHANT"))
    assert code(answer) == "ACCESS_DENIED"


def test_fixture_table_rejects_with_a_reason_and_a_rejected_merchant_registers_again(
    gateway: Gateway,
) -> None:
    body = reg_body()
    body["merchantInfo"]["merchantDisplayName"] = "Please Reject Me Ltd"
    call(gateway, "registration", body)
    [row] = gateway.http.get("/_emulator/registrations").json()["registrations"]
    assert row["outcome"] == "REJECTED" and row["chosenBy"] == "fixtures"
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 300})
    status = call(gateway, "inquiryRegistrationStatus", {"registrationRequestId": "REG-1"})
    assert status["registrationResult"]["registrationStatus"] == "REJECTED"
    assert status["registrationResult"]["rejectReason"].startswith("The business registration")
    assert code(call(gateway, "registration", reg_body("REG-2"))) == "SUCCESS"


def test_control_decision(gateway: Gateway) -> None:
    call(gateway, "registration", reg_body())
    [row] = gateway.http.get("/_emulator/registrations").json()["registrations"]
    url = f"/_emulator/registrations/{row['registrationId']}/decision"
    assert gateway.http.post(url, json={"outcome": "REJECTED"}).status_code == 422
    assert gateway.http.post(url, json={"outcome": "MAYBE"}).status_code == 422
    decided = gateway.http.post(url, json={"outcome": "REJECTED", "reason": "MCC does not match"}).json()
    assert decided["status"] == "REJECTED" and decided["reason"] == "MCC does not match"
    assert gateway.http.post(url, json={"outcome": "APPROVED"}).status_code == 409
    assert gateway.http.get("/_emulator/registrations/nope").status_code == 404
    detail = gateway.http.get(f"/_emulator/registrations/{row['registrationId']}").json()
    assert detail["decidedAt"] is not None and detail["chosenBy"] == "control"


def test_decision_later_applies_when_the_review_ends(gateway: Gateway) -> None:
    call(gateway, "registration", reg_body())
    [row] = gateway.http.get("/_emulator/registrations").json()["registrations"]
    url = f"/_emulator/registrations/{row['registrationId']}/decision"
    chosen = gateway.http.post(
        url, json={"outcome": "REJECTED", "reason": "late", "immediately": False}
    ).json()
    assert chosen["status"] == "PENDING" and chosen["outcome"] == "REJECTED"
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 300})
    status = call(gateway, "inquiryRegistrationStatus", {"registrationRequestId": "REG-1"})
    assert status["registrationResult"] == {"registrationStatus": "REJECTED", "rejectReason": "late"}


def test_scenarios_cover_registration_apis(gateway: Gateway) -> None:
    out = gateway.http.post(
        "/_emulator/scenarios", json={"api": "registration", "resultCode": "SYSTEM_ERROR", "count": 1}
    )
    assert out.status_code == 200, out.text
    assert code(call(gateway, "registration", reg_body())) == "SYSTEM_ERROR"
    assert code(call(gateway, "registration", reg_body())) == "SUCCESS"
    journal = gateway.http.get(
        "/_emulator/requests", params={"path": "/ams/sandbox/api/v1/merchants/registration"}
    ).json()
    assert [e["resultCode"] for e in journal["requests"]][:2] == ["SUCCESS", "SYSTEM_ERROR"]


def test_scoped_reset_removes_the_applications_registrations(gateway: Gateway) -> None:
    acquirer = gateway.by_role("ACQUIRER")
    call(gateway, "registration", reg_body())
    gateway.http.post("/_emulator/reset", params={"clientId": gateway.by_role("MERCHANT")["clientId"]})
    assert len(gateway.http.get("/_emulator/registrations").json()["registrations"]) == 1
    gateway.http.post("/_emulator/reset", params={"clientId": acquirer["clientId"]})
    assert gateway.http.get("/_emulator/registrations").json()["registrations"] == []
    call(gateway, "registration", reg_body())
    gateway.http.post("/_emulator/reset")
    assert gateway.http.get("/_emulator/registrations").json()["registrations"] == []


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, registration_required=True)
    with TestClient(create_app(settings)) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())


def _pay(gw: Gateway, app: dict[str, Any], request_id: str) -> dict[str, Any]:
    body = pay_body(gw.code(), request_id=request_id, currency=app["testCurrency"])
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    return gw.call("pay", body, app=app)


def test_gate_refuses_pay_until_the_merchant_is_approved(gated: Gateway) -> None:
    acquirer = gated.by_role("ACQUIRER")
    assert code(_pay(gated, acquirer, "GATE-1")) == "MERCHANT_NOT_REGISTERED"
    # A merchant application is not gated.
    merchant = gated.by_role("MERCHANT")
    assert code(_pay(gated, merchant, "GATE-M")) == "SUCCESS"
    call(gated, "registration", reg_body(merchant="M1"))
    assert code(_pay(gated, acquirer, "GATE-2")) == "MERCHANT_NOT_REGISTERED"
    gated.http.post("/_emulator/clock", json={"advanceSeconds": 300})
    assert code(_pay(gated, acquirer, "GATE-3")) == "SUCCESS"


def test_faults_cover_registration_apis(gateway: Gateway) -> None:
    fault = {"api": "inquiryRegistrationStatus", "kind": "http_status", "status": 503, "count": 1}
    assert gateway.http.post("/_emulator/faults", json=fault).status_code == 200
    path = "/ams/sandbox/api/v1/merchants/inquiryRegistrationStatus"
    body = {"referenceMerchantId": "SUB-1"}
    assert gateway.post("x", body, app=gateway.by_role("ACQUIRER"), path=path).status_code == 503
    assert code(call(gateway, "inquiryRegistrationStatus", body)) == "RECORD_NOT_FOUND"


def test_notification_is_retried_and_logged_like_payment_notifications(gateway: Gateway) -> None:
    from emulator.testing import NotificationReceiver

    with NotificationReceiver() as receiver:
        receiver.script = [(500, {"error": "merchant down"})]
        call(gateway, "registration", reg_body(registrationNotifyURL=receiver.url + "?acq=1"))
        call(gateway, "registration", reg_body("REG-2", merchant="SUB-QUIET"))  # no URL: no notification
        gateway.http.post("/_emulator/clock", json={"advanceSeconds": 300})
        [first] = receiver.wait_for(1)
        assert first.path == "/notify?acq=1"
        assert first.verify(gateway.sandbox["alipayPublicKey"])
        gateway.http.post("/_emulator/clock", json={"advanceSeconds": 120})  # spec §1.4: retry after 2 min
        second = receiver.wait_for(2)[1]
    assert second.body == first.body
    [note] = gateway.http.get("/_emulator/notifications").json()["notifications"]
    assert note["notifyType"] == "REGISTRATION_STATUS" and note["status"] == "DELIVERED"
    assert [a["httpStatus"] for a in note["attempts"]] == [500, 200]
    rows = gateway.http.get("/_emulator/registrations").json()["registrations"]
    assert {r["referenceMerchantId"]: r["notificationId"] for r in rows} == {
        "SUB-QUIET": None,
        "SUB-1": note["id"],
    }
