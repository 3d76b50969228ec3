"""pay / inquiryPayment / cancel / refund / inquiryRefund semantics (spec §4, §9)."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import Gateway, pay_body


def total_money(gw: Gateway) -> dict[str, int]:
    """Sum of buyer balances plus merchant funds, per currency."""
    rt = gw.http.app.state.runtime  # type: ignore[attr-defined]
    from sqlmodel import select

    from emulator.sandbox.models import Balance

    totals: dict[str, int] = {}
    with rt.db.read() as session:
        for b in session.exec(select(Balance)).all():
            totals[b.currency] = totals.get(b.currency, 0) + b.amount
    return totals


def buyer_balance(gw: Gateway, behaviour: str = "normal", currency: str = "USD") -> int:
    sandbox = gw.http.get("/_emulator/sandbox").json()
    buyer = next(b for b in sandbox["buyers"] if b["behaviour"] == behaviour)
    return int(buyer["balances"][currency])


def pay(gw: Gateway, code: str, **kw: Any) -> dict[str, Any]:
    return gw.call("pay", pay_body(code, **kw))


def test_success_debits_the_buyer_and_answers_the_documented_fields(gateway: Gateway) -> None:
    before = buyer_balance(gateway)
    money = total_money(gateway)
    body = pay(gateway, gateway.code(), amount=1234)
    assert body["result"] == {
        "resultCode": "SUCCESS",
        "resultStatus": "S",
        "resultMessage": "success",
    }
    assert len(body["paymentId"]) == 35 and body["paymentId"][8:18] == "1140108001"
    assert body["paymentAmount"] == {"currency": "USD", "value": "1234"}
    assert body["paymentTime"].endswith("+08:00") and body["paymentCreateTime"]
    info = body["pspCustomerInfo"]
    assert info["pspName"] == "ALIPAY_CN" and "***@" in info["displayCustomerId"]
    assert buyer_balance(gateway) == before - 1234
    assert total_money(gateway) == money


@pytest.mark.parametrize(
    ("behaviour", "amount", "code", "status"),
    [
        ("insufficient_balance", 1000, "USER_BALANCE_NOT_ENOUGH", "F"),
        ("frozen", 100, "USER_STATUS_ABNORMAL", "F"),
        ("risk_reject", 100, "RISK_REJECT", "F"),
        ("needs_verification", 100, "PAYMENT_IN_PROCESS", "U"),
    ],
)
def test_buyer_behaviours(gateway: Gateway, behaviour: str, amount: int, code: str, status: str) -> None:
    money = total_money(gateway)
    before = buyer_balance(gateway, behaviour)
    body = pay(gateway, gateway.code(behaviour), amount=amount)
    assert (body["result"]["resultCode"], body["result"]["resultStatus"]) == (code, status)
    inquiry = gateway.call("inquiryPayment", {"paymentRequestId": "PR-1"})
    assert inquiry["paymentStatus"] == ("PROCESSING" if status == "U" else "FAIL")
    assert inquiry["paymentResultCode"] == code
    assert buyer_balance(gateway, behaviour) == before
    assert total_money(gateway) == money


def test_codes_are_single_use_expire_and_must_be_well_formed(gateway: Gateway) -> None:
    code = gateway.code()
    assert pay(gateway, code, request_id="A")["result"]["resultCode"] == "SUCCESS"
    assert pay(gateway, code, request_id="B")["result"]["resultCode"] == "INVALID_PAYMENT_CODE"
    assert pay(gateway, "12345", request_id="C")["result"]["resultCode"] == "INVALID_PAYMENT_CODE"
    assert pay(gateway, "281234567890123456", request_id="D")["result"]["resultCode"] == "USER_NOT_EXIST"
    stale = gateway.code()
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 61})
    assert pay(gateway, stale, request_id="E")["result"]["resultCode"] == "EXPIRED_CODE"


def test_idempotent_replay_and_inconsistent_repeat(gateway: Gateway) -> None:
    code = gateway.code()
    first = pay(gateway, code, amount=500)
    before = buyer_balance(gateway)
    assert pay(gateway, code, amount=500) == first
    assert buyer_balance(gateway) == before
    again = pay(gateway, code, amount=501)
    assert again["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"


def test_failed_payment_replays_its_failure(gateway: Gateway) -> None:
    code = gateway.code("risk_reject")
    first = pay(gateway, code, request_id="R-1")
    assert first["result"]["resultCode"] == "RISK_REJECT"
    assert pay(gateway, code, request_id="R-1") == first


def test_currency_other_than_the_test_currency(gateway: Gateway) -> None:
    body = pay(gateway, gateway.code(), currency="JPY")
    assert body["result"]["resultCode"] == "CURRENCY_NOT_SUPPORT"
    assert (
        gateway.call("inquiryPayment", {"paymentRequestId": "PR-1"})["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )


def test_jpy_application_takes_whole_yen(gateway: Gateway) -> None:
    jpy = gateway.app(1)
    assert jpy["testCurrency"] == "JPY"
    body = gateway.call("pay", pay_body(gateway.code(), currency="JPY", amount=500), app=jpy)
    assert body["result"]["resultCode"] == "SUCCESS"


def test_refunds_partial_multiple_and_capped(gateway: Gateway) -> None:
    money = total_money(gateway)
    paid = pay(gateway, gateway.code(), amount=1000)
    pid = paid["paymentId"]

    def refund(rid: str, value: int, currency: str = "USD", payment_id: str = pid) -> dict[str, Any]:
        return gateway.call(
            "refund",
            {
                "refundRequestId": rid,
                "paymentId": payment_id,
                "refundAmount": {"currency": currency, "value": str(value)},
            },
        )

    r1 = refund("R1", 300)
    assert r1["result"]["resultCode"] == "SUCCESS" and r1["refundId"][8:18] == "1140108013"
    assert refund("R1", 300) == r1
    assert refund("R1", 301)["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    assert refund("R2", 700)["result"]["resultCode"] == "SUCCESS"
    assert refund("R3", 1)["result"]["resultCode"] == "REFUND_AMOUNT_EXCEED"
    assert refund("R4", 1, payment_id="nope")["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert refund("R5", 1, currency="JPY")["result"]["resultCode"] == "CURRENCY_NOT_SUPPORT"
    inquiry = gateway.call("inquiryRefund", {"refundRequestId": "R2"})
    assert inquiry["refundStatus"] == "SUCCESS" and inquiry["refundAmount"]["value"] == "700"
    by_id = gateway.call("inquiryRefund", {"refundId": r1["refundId"], "refundRequestId": "R2"})
    assert by_id["refundRequestId"] == "R1"  # refundId wins
    assert (
        gateway.call("inquiryRefund", {"refundRequestId": "none"})["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )
    txs = gateway.call("inquiryPayment", {"paymentId": pid})["transactions"]
    assert [t["transactionRequestId"] for t in txs if t["transactionStatus"] == "SUCCESS"] == [
        "R1",
        "R2",
    ]
    assert gateway.call("cancel", {"paymentId": pid})["result"]["resultCode"] == "ORDER_STATUS_INVALID"
    assert total_money(gateway) == money


def test_refund_window(gateway: Gateway) -> None:
    pid = pay(gateway, gateway.code())["paymentId"]
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 366 * 86400})
    body = gateway.call(
        "refund",
        {
            "refundRequestId": "late",
            "paymentId": pid,
            "refundAmount": {"currency": "USD", "value": "1"},
        },
    )
    assert body["result"]["resultCode"] == "REFUND_WINDOW_EXCEED"


def test_cancel_reverses_is_idempotent_and_blocks_reuse(gateway: Gateway) -> None:
    before = buyer_balance(gateway)
    paid = pay(gateway, gateway.code(), amount=800)
    cancel = gateway.call("cancel", {"paymentRequestId": "PR-1"})
    assert cancel["result"]["resultCode"] == "SUCCESS" and cancel["cancelTime"]
    assert cancel["paymentId"] == paid["paymentId"]
    assert gateway.call("cancel", {"paymentId": paid["paymentId"]}) == cancel
    assert buyer_balance(gateway) == before
    inquiry = gateway.call("inquiryPayment", {"paymentRequestId": "PR-1"})
    assert inquiry["paymentStatus"] == "CANCELLED"
    assert pay(gateway, gateway.code(), amount=800)["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    replay = pay(gateway, _code_of(gateway, "PR-1"), amount=800)
    assert replay["result"]["resultCode"] == "ORDER_IS_CANCELED"
    refund = gateway.call(
        "refund",
        {
            "refundRequestId": "RX",
            "paymentId": paid["paymentId"],
            "refundAmount": {"currency": "USD", "value": "1"},
        },
    )
    assert refund["result"]["resultCode"] == "ORDER_IS_CANCELED"
    assert gateway.call("cancel", {"paymentId": "missing"})["result"]["resultCode"] == "ORDER_NOT_EXIST"


def _code_of(gw: Gateway, request_id: str) -> str:
    rt = gw.http.app.state.runtime  # type: ignore[attr-defined]
    from sqlmodel import select

    from emulator.payments.models import Payment

    with rt.db.read() as session:
        p = session.exec(select(Payment).where(Payment.payment_request_id == request_id)).one()
    return str(p.payment_method_id)


def test_cancel_window_ends_after_the_gmt8_day_plus_grace(gateway: Gateway) -> None:
    gateway.http.post("/_emulator/clock", json={"now": "2031-01-01T15:00:00+08:00"})
    pid = pay(gateway, gateway.code())["paymentId"]
    gateway.http.post("/_emulator/clock", json={"now": "2031-01-02T00:14:00+08:00"})
    code = gateway.code()
    pid2 = pay(gateway, code, request_id="PR-2")["paymentId"]
    assert gateway.call("cancel", {"paymentId": pid})["result"]["resultCode"] == "SUCCESS"
    gateway.http.post("/_emulator/clock", json={"now": "2031-01-03T00:16:00+08:00"})
    assert gateway.call("cancel", {"paymentId": pid2})["result"]["resultCode"] == "CANCEL_WINDOW_EXCEED"


def test_isv_acts_for_its_merchant_only(gateway: Gateway) -> None:
    isv = gateway.by_role("ISV")
    token = isv["testToken"]
    assert len(token) == 48
    cur = isv["testCurrency"]
    no_token = gateway.call("pay", pay_body(gateway.code(), currency=cur), app=isv)
    assert no_token["result"]["resultCode"] == "ACCESS_DENIED"
    wrong = gateway.call(
        "pay", pay_body(gateway.code(), currency=cur), app=isv, headers={"Agent-Token": "Z" * 48}
    )
    assert wrong["result"]["resultCode"] == "ACCESS_DENIED"
    empty = gateway.call("pay", pay_body(gateway.code(), currency=cur), app=isv, headers={"Agent-Token": ""})
    assert empty["result"]["resultCode"] == "ACCESS_DENIED"
    ok = gateway.call("pay", pay_body(gateway.code(), currency=cur), app=isv, headers={"Agent-Token": token})
    assert ok["result"]["resultCode"] == "SUCCESS"
    # The merchant application cannot see the ISV merchant's payment, and vice versa.
    merchant = gateway.call("inquiryPayment", {"paymentId": ok["paymentId"]})
    assert merchant["result"]["resultCode"] == "ORDER_NOT_EXIST"
    seen = gateway.call(
        "inquiryPayment", {"paymentId": ok["paymentId"]}, app=isv, headers={"Agent-Token": token}
    )
    assert seen["paymentStatus"] == "SUCCESS"
    other = gateway.call(
        "pay", pay_body(gateway.code(), currency="USD"), app=isv, headers={"Agent-Token": token}
    )
    assert other["result"]["resultCode"] == "CURRENCY_NOT_SUPPORT"


def test_key_rotation_selects_by_key_version(gateway: Gateway) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from emulator.signing import private_key_pkcs1_pem, public_key_b64

    app = gateway.app()
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    put = gateway.http.put(
        f"/_emulator/applications/{app['clientId']}/public-key",
        json={"publicKey": public_key_b64(new_key.public_key()), "keyVersion": "2"},
    )
    assert put.status_code == 200
    pem = private_key_pkcs1_pem(new_key)
    assert (
        gateway.call("inquiryPayment", {"paymentId": "x"}, key_version="2", private_key=pem)["result"][
            "resultCode"
        ]
        == "ORDER_NOT_EXIST"
    )
    assert (
        gateway.call("inquiryPayment", {"paymentId": "x"}, key_version="1", private_key=pem)["result"][
            "resultCode"
        ]
        == "INVALID_SIGNATURE"
    )
    # Without keyVersion the upload replaces version 1.
    gateway.http.put(
        f"/_emulator/applications/{app['clientId']}/public-key",
        json={"publicKey": public_key_b64(new_key.public_key())},
    )
    assert (
        gateway.call("inquiryPayment", {"paymentId": "x"}, private_key=pem)["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )
    bad = gateway.http.put(
        f"/_emulator/applications/{app['clientId']}/public-key",
        json={"publicKey": "bm90IGEga2V5IGF0IGFsbA=="},
    )
    assert bad.status_code == 422


def test_reset_restores_the_seed(gateway: Gateway) -> None:
    seeded = gateway.http.get("/_emulator/sandbox").json()
    pay(gateway, gateway.code())
    gateway.http.post("/_emulator/clock", json={"advanceSeconds": 3600})
    assert gateway.http.post("/_emulator/reset").status_code == 200
    assert gateway.http.get("/_emulator/sandbox").json() == seeded
    assert (
        gateway.call("inquiryPayment", {"paymentRequestId": "PR-1"})["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )
    assert gateway.http.get("/_emulator/clock").json()["offsetSeconds"] == 0
