"""Merchant registration end to end: the official Python SDK's registration requests (#16)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.testing import NotificationReceiver, ReceivedNotification

from .conftest import Live, running
from .support import EmulatorProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver(path="/registration/notify") as r:
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


def result_code(body: dict[str, Any]) -> str:
    return str(body["result"]["resultCode"])


def test_register_review_notify_and_inquire(emu: Live, receiver: NotificationReceiver) -> None:
    acquirer = emu.app("ACQUIRER")
    client = emu.client(acquirer)
    args = {"registrationRequestId": "REG-E2E-1", "merchantId": "SUB-E2E-1", "notifyUrl": receiver.url}
    assert result_code(emu.sdk.body("register", client, **args)) == "SUCCESS"

    status = emu.sdk.body("registration_status", client, registrationRequestId="REG-E2E-1")
    assert status["registrationResult"] == {"registrationStatus": "PENDING"}
    assert receiver.received == []

    emu.control.advance_clock(seconds=300)  # the default review time
    [note] = receiver.wait_for(1)
    assert sdk_verifies(emu, note)
    assert note.headers["client-id"] == acquirer["clientId"]
    assert note.json() == {
        "registrationRequestId": "REG-E2E-1",
        "referenceMerchantId": "SUB-E2E-1",
        "registrationResult": {"registrationStatus": "APPROVED"},
        "pspRegistrationResultList": [
            {"pspName": "ALIPAY_CN", "registrationResult": {"registrationStatus": "APPROVED"}}
        ],
    }

    status = emu.sdk.body("registration_status", client, merchantId="SUB-E2E-1")
    assert status["registrationResult"] == {"registrationStatus": "APPROVED"}
    info = emu.sdk.body("registration_info", client, merchantId="SUB-E2E-1")
    assert info["merchantInfo"]["referenceMerchantId"] == "SUB-E2E-1"
    assert info["merchantInfo"]["registrationDetail"]["legalName"] == "Emulator Sub-merchant Pte Ltd"
    assert info["productCodes"] == ["IN_STORE_PAYMENT"]

    # A repeat answers the same; another request ID for the approved merchant is a repeat
    # registration; the same request ID with other key fields is inconsistent.
    assert result_code(emu.sdk.body("register", client, **args)) == "SUCCESS"
    again = dict(args, registrationRequestId="REG-E2E-2")
    assert result_code(emu.sdk.body("register", client, **again)) == "REPEAT_REGISTRATION"
    other = dict(args, mcc="5411")
    assert result_code(emu.sdk.body("register", client, **other)) == "REPEAT_REQ_INCONSISTENT"
    unknown = emu.sdk.body("registration_status", client, registrationRequestId="NO-SUCH-REG")
    assert result_code(unknown) == "RECORD_NOT_FOUND"
    assert result_code(emu.sdk.body("registration_info", client, merchantId="NOBODY")) == "RECORD_NOT_FOUND"

    [record] = emu.control.registrations(client_id=acquirer["clientId"])
    assert record["status"] == "APPROVED" and record["notificationId"] is not None
    [delivery] = [n for n in emu.control.notifications() if n["id"] == record["notificationId"]]
    assert delivery["notifyType"] == "REGISTRATION_STATUS" and delivery["status"] == "DELIVERED"
    assert emu.control.sandbox()["registeredMerchants"][0]["referenceMerchantId"] == "SUB-E2E-1"
    journal = emu.control.requests(path="/ams/sandbox/api/v1/merchants/registration")
    assert [e["resultCode"] for e in journal][:3] == [
        "REPEAT_REQ_INCONSISTENT",
        "REPEAT_REGISTRATION",
        "SUCCESS",
    ]


def test_chosen_rejections_carry_a_reason(emu: Live, receiver: NotificationReceiver) -> None:
    isv = emu.app("ISV")
    client = emu.client(isv, agent_token=isv["testToken"])
    # The bundled fixture table rejects stores whose name contains "reject" (fixtures/sandbox.toml).
    store = {"referenceStoreId": "ST-9", "storeName": "Reject Street kiosk", "storeMCC": "5812"}
    body = emu.sdk.body(
        "register",
        client,
        registrationRequestId="REG-REJ-1",
        merchantId="SUB-REJ",
        notifyUrl=receiver.url,
        storeInfo=store,
    )
    assert result_code(body) == "SUCCESS"
    # ...and a control call chooses the outcome of another one.
    emu.sdk.body(
        "register", client, registrationRequestId="REG-REJ-2", merchantId="SUB-CTL", notifyUrl=receiver.url
    )
    [chosen] = [r for r in emu.control.registrations() if r["registrationRequestId"] == "REG-REJ-2"]
    decided = emu.control.decide_registration(
        chosen["registrationId"], "REJECTED", reason="MCC does not match"
    )
    assert decided["status"] == "REJECTED"
    [by_control] = receiver.wait_for(1)
    assert sdk_verifies(emu, by_control)
    assert by_control.json()["registrationResult"] == {
        "registrationStatus": "REJECTED",
        "rejectReason": "MCC does not match",
    }
    assert by_control.headers.get("agent-token") == isv["testToken"]

    emu.control.advance_clock(seconds=300)
    by_fixture = receiver.wait_for(2)[1].json()
    assert by_fixture["referenceStoreId"] == "ST-9"
    assert by_fixture["registrationResult"]["registrationStatus"] == "REJECTED"
    assert by_fixture["registrationResult"]["rejectReason"] == "The store address could not be verified."
    info = emu.sdk.body("registration_info", client, merchantId="SUB-REJ")
    assert info["storeInfo"] == store


def test_pay_is_gated_until_the_registration_is_approved(tmp_path: Path) -> None:
    process = EmulatorProcess(tmp_path / "data", env={"ALIPAY_EMULATOR_REGISTRATION_REQUIRED": "true"})
    with NotificationReceiver() as payments, running(process, backend="sqlite") as emu:
        acquirer = emu.app("ACQUIRER")
        client = emu.client(acquirer)

        def pay(request_id: str, store: str) -> str:
            code = emu.control.payment_code(emu.buyer()["loginId"])
            body = emu.sdk.body(
                "pay_code",
                client,
                paymentRequestId=request_id,
                currency=acquirer["testCurrency"],
                amount=1000,
                paymentCode=code,
                merchantId="SUB-GATE",
                storeId=store,
                notifyUrl=payments.url,
            )
            return result_code(body)

        assert pay("GATE-1", "ST-1") == "MERCHANT_NOT_REGISTERED"
        store = {"referenceStoreId": "ST-1", "storeName": "Gate Store", "storeMCC": "5812"}
        emu.sdk.body(
            "register", client, registrationRequestId="REG-GATE", merchantId="SUB-GATE", storeInfo=store
        )
        assert pay("GATE-2", "ST-1") == "MERCHANT_NOT_REGISTERED"  # still under review
        emu.control.advance_clock(seconds=300)
        assert pay("GATE-3", "ST-1") == "SUCCESS"
        assert pay("GATE-4", "ST-2") == "MERCHANT_NOT_REGISTERED"  # another store of the merchant
