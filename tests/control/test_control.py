"""The control plane in process: scenarios, faults, journal, reset, admin token, clock."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings

from ..conftest import Gateway, pay_body


def code_of(response: Any) -> str:
    return str(response.json()["result"]["resultCode"])


def test_scenario_count_client_and_no_state_change(gateway: Gateway) -> None:
    app = gateway.app()
    other = gateway.app(1)
    r = gateway.http.post(
        "/_emulator/scenarios",
        json={
            "api": "pay",
            "resultCode": "USER_BALANCE_NOT_ENOUGH",
            "count": 2,
            "clientId": app["clientId"],
        },
    )
    assert r.status_code == 200 and r.json()["resultStatus"] == "F"
    forced = gateway.call("pay", pay_body(gateway.code()))
    assert forced["result"] == {
        "resultCode": "USER_BALANCE_NOT_ENOUGH",
        "resultStatus": "F",
        "resultMessage": "The buyer's balance is not enough.",
    }
    assert (
        gateway.call("inquiryPayment", {"paymentRequestId": "PR-1"})["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )
    # Another application is not affected; the inquiry API is not affected.
    jpy = gateway.call("pay", pay_body(gateway.code(), currency="JPY", request_id="J"), app=other)
    assert jpy["result"]["resultCode"] == "SUCCESS"
    assert (
        code_of(gateway.post("pay", pay_body(gateway.code(), request_id="X2"))) == "USER_BALANCE_NOT_ENOUGH"
    )
    assert code_of(gateway.post("pay", pay_body(gateway.code(), request_id="X3"))) == "SUCCESS"
    assert gateway.http.get("/_emulator/scenarios").json()["scenarios"] == []


def test_scenario_for_minutes_of_the_emulator_clock(gateway: Gateway) -> None:
    gateway.http.post(
        "/_emulator/scenarios",
        json={"api": "inquiryPayment", "resultCode": "UNKNOWN_EXCEPTION", "minutes": 30},
    )
    for _ in range(3):
        r = gateway.call("inquiryPayment", {"paymentRequestId": "x"})["result"]
        assert (r["resultCode"], r["resultStatus"]) == ("UNKNOWN_EXCEPTION", "U")
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 1800})
    assert (
        gateway.call("inquiryPayment", {"paymentRequestId": "x"})["result"]["resultCode"] == "ORDER_NOT_EXIST"
    )


def test_scenario_validation_and_clear(gateway: Gateway) -> None:
    bad = gateway.http.post("/_emulator/scenarios", json={"api": "nope", "resultCode": "SYSTEM_ERROR"})
    assert bad.status_code == 422
    undocumented = gateway.http.post("/_emulator/scenarios", json={"api": "pay", "resultCode": "MY_CODE"})
    assert undocumented.status_code == 422
    ok = gateway.http.post(
        "/_emulator/scenarios", json={"api": "pay", "resultCode": "MY_CODE", "resultStatus": "U"}
    )
    assert ok.status_code == 200
    gateway.http.delete("/_emulator/scenarios")
    assert gateway.http.get("/_emulator/scenarios").json() == {"scenarios": []}


def test_header_selects_a_scenario_or_fault_for_one_call(gateway: Gateway) -> None:
    hdr = {"X-Emulator-Scenario": "resultCode=RISK_REJECT"}
    assert code_of(gateway.post("pay", pay_body(gateway.code()), headers=hdr)) == "RISK_REJECT"
    assert code_of(gateway.post("pay", pay_body(gateway.code(), request_id="B"))) == "SUCCESS"
    r = gateway.post(
        "inquiryPayment",
        {"paymentRequestId": "B"},
        headers={"X-Emulator-Scenario": "fault=http_status;status=502"},
    )
    assert r.status_code == 502
    junk = gateway.post("inquiryPayment", {"paymentRequestId": "B"}, headers={"X-Emulator-Scenario": "what"})
    assert (
        code_of(junk) == "PARAM_ILLEGAL" and "X-Emulator-Scenario" in junk.json()["result"]["resultMessage"]
    )


def test_http_status_fault_touches_no_state(gateway: Gateway) -> None:
    gateway.http.post("/_emulator/faults", json={"api": "pay", "kind": "http_status", "status": 503})
    r = gateway.post("pay", pay_body(gateway.code()))
    assert r.status_code == 503
    assert (
        gateway.call("inquiryPayment", {"paymentRequestId": "PR-1"})["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )
    entry = gateway.http.get("/_emulator/requests", params={"path": "payments/pay"}).json()["requests"][0]
    assert entry["transport"] == "injected HTTP 503"


def test_seeded_probability_faults_are_reproducible(gateway: Gateway) -> None:
    def pattern() -> list[int]:
        gateway.http.post(
            "/_emulator/faults",
            json={
                "api": "inquiryRefund",
                "kind": "http_status",
                "probability": 0.5,
                "seed": 7,
                "count": 100,
            },
        )
        out = [gateway.post("inquiryRefund", {"refundRequestId": "x"}).status_code for _ in range(16)]
        gateway.http.delete("/_emulator/faults")
        return out

    first = pattern()
    assert 0 < first.count(503) < 16
    assert pattern() == first


def test_fault_validation(gateway: Gateway) -> None:
    for body in (
        {"api": "pay", "kind": "latency"},
        {"api": "pay", "kind": "teleport"},
        {"api": "pay", "kind": "http_status", "status": 200},
        {"api": "pay", "kind": "no_response", "probability": 2},
    ):
        assert gateway.http.post("/_emulator/faults", json=body).status_code == 422
    assert (
        gateway.http.post(
            "/_emulator/faults", json={"api": "pay", "kind": "latency", "ms": 50, "count": 1}
        ).status_code
        == 200
    )
    assert len(gateway.http.get("/_emulator/faults").json()["faults"]) == 1
    assert code_of(gateway.post("pay", pay_body(gateway.code()))) == "SUCCESS"
    assert gateway.http.get("/_emulator/faults").json()["faults"] == []


def test_scoped_reset_leaves_other_applications_alone(gateway: Gateway) -> None:
    usd, jpy = gateway.app(0), gateway.app(1)
    sandbox = gateway.http.get("/_emulator/sandbox").json()
    gateway.call("pay", pay_body(gateway.code(), request_id="U1", amount=500), app=usd)
    paid = gateway.call("pay", pay_body(gateway.code(), request_id="J1", currency="JPY", amount=700), app=jpy)
    gateway.call(
        "refund",
        {
            "refundRequestId": "JR",
            "paymentId": paid["paymentId"],
            "refundAmount": {"currency": "JPY", "value": "200"},
        },
        app=jpy,
    )
    r = gateway.http.post("/_emulator/reset", params={"clientId": jpy["clientId"]})
    assert r.status_code == 200
    assert (
        gateway.call("inquiryPayment", {"paymentRequestId": "J1"}, app=jpy)["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )
    assert gateway.call("inquiryPayment", {"paymentRequestId": "U1"}, app=usd)["paymentStatus"] == "SUCCESS"
    after = gateway.http.get("/_emulator/sandbox").json()
    normal = next(b for b in after["buyers"] if b["behaviour"] == "normal")
    seeded = next(b for b in sandbox["buyers"] if b["behaviour"] == "normal")
    assert normal["balances"]["JPY"] == seeded["balances"]["JPY"]
    assert int(normal["balances"]["USD"]) == int(seeded["balances"]["USD"]) - 500
    assert gateway.http.post("/_emulator/reset", params={"clientId": "SANDBOX_NOPE"}).status_code == 404


def test_journal_filters_and_is_bounded(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"journal_size": 3}))) as http:
        gw = Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())
        for i in range(5):
            gw.post("inquiryPayment", {"paymentRequestId": f"q{i}"})
        entries = http.get("/_emulator/requests").json()["requests"]
        assert len(entries) == 3
        assert '"q4"' in entries[0]["body"]  # newest first
        assert entries[0]["latencyMs"] >= 0 and entries[0]["headers"]["client-id"] == gw.app()["clientId"]
        assert http.get("/_emulator/requests", params={"resultCode": "SUCCESS"}).json()["requests"] == []
        assert len(http.get("/_emulator/requests", params={"limit": 1}).json()["requests"]) == 1
    with TestClient(create_app(settings.model_copy(update={"journal_enabled": False}))) as http:
        gw = Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())
        gw.post("inquiryPayment", {"paymentRequestId": "q"})
        assert http.get("/_emulator/requests").json() == {"requests": [], "enabled": False}


def test_admin_token_guards_the_control_api_only(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"admin_token": "s3cret"}))) as http:
        assert http.get("/_emulator/health").status_code == 200
        assert http.get("/_emulator/sandbox").status_code == 401
        assert http.post("/_emulator/reset", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        sandbox = http.get("/_emulator/sandbox", headers=auth).json()
        gw = Gateway(http=http, sandbox=sandbox)
        assert (
            gw.call("inquiryPayment", {"paymentRequestId": "x"})["result"]["resultCode"] == "ORDER_NOT_EXIST"
        )
        assert http.get("/_emulator/openapi.json").status_code == 200


def test_clock_moves_forward_only_and_freezes(gateway: Gateway) -> None:
    c = gateway.http.get("/_emulator/clock").json()
    assert set(c) == {"now", "offsetSeconds", "frozen"}
    frozen = gateway.http.post("/_emulator/clock", json={"frozen": True}).json()
    assert frozen["frozen"] is True
    assert gateway.http.get("/_emulator/clock").json()["now"] == frozen["now"]
    moved = gateway.http.post("/_emulator/clock", json={"advanceSeconds": 90}).json()
    assert moved["offsetSeconds"] >= 90
    assert gateway.http.post("/_emulator/clock", json={"now": "2001-01-01T00:00:00+00:00"}).status_code == 422
    assert gateway.http.post("/_emulator/clock", json={"advanceSeconds": -1}).status_code == 422
    thawed = gateway.http.post("/_emulator/clock", json={"frozen": False}).json()
    assert thawed["frozen"] is False


@pytest.mark.parametrize("role", ["ISV"])
def test_isv_authorization_issues_and_revokes_tokens(gateway: Gateway, role: str) -> None:
    isv = gateway.by_role(role)
    merchant = gateway.app(0)
    assert isv["authorizationUrl"].endswith(f"/_emulator/isv/{isv['clientId']}/authorize")
    page = gateway.http.get(f"/_emulator/isv/{isv['clientId']}/authorize")
    assert page.status_code == 200 and ">Merchant account</label>" in page.text
    issued = gateway.http.post(
        f"/_emulator/isv/{isv['clientId']}/authorizations",
        json={"merchantClientId": merchant["clientId"]},
    ).json()
    token = issued["agentToken"]
    assert len(token) == 48 and issued["merchantCustomerId"] == merchant["customerId"]
    cur = isv["testCurrency"]
    hdr = {"Agent-Token": token}
    paid = gateway.call("pay", pay_body(gateway.code(), currency=cur), app=isv, headers=hdr)
    assert paid["result"]["resultCode"] == "SUCCESS"
    # Acting for that merchant only: the seeded test token's merchant cannot see it.
    other = gateway.call(
        "inquiryPayment",
        {"paymentId": paid["paymentId"]},
        app=isv,
        headers={"Agent-Token": isv["testToken"]},
    )
    assert other["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert gateway.http.delete(f"/_emulator/agent-tokens/{token}").json()["revokedAt"]
    denied = gateway.call("inquiryPayment", {"paymentId": paid["paymentId"]}, app=isv, headers=hdr)
    assert denied["result"]["resultCode"] == "ACCESS_DENIED"
    bad = gateway.http.post(
        f"/_emulator/isv/{merchant['clientId']}/authorizations",
        json={"merchantClientId": merchant["clientId"]},
    )
    assert bad.status_code == 422
