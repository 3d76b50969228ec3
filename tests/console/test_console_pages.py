"""The console's control APIs and pages, in process: payments, balances, clock, escaping."""

from __future__ import annotations

import re
from typing import Any

from emulator.control.simulation import FAULT_KINDS
from emulator.web.security import CSRF_COOKIE

from ..conftest import Gateway, pay_body

NOTIFY = "http://127.0.0.1:9/notify"


def _pay(gateway: Gateway, request_id: str, *, amount: int = 1000, **changes: Any) -> dict[str, Any]:
    body = pay_body(gateway.code(), request_id=request_id, amount=amount)
    body["paymentNotifyUrl"] = NOTIFY
    body["order"].update(changes)
    return gateway.call("pay", body)


def _csrf(gateway: Gateway, page: str = "/console/clock") -> str:
    gateway.http.get(page)
    return str(gateway.http.cookies[CSRF_COOKIE])


def test_payments_api_lists_filters_and_reads_with_refunds_and_timeline(gateway: Gateway) -> None:
    paid = _pay(gateway, "PR-A")
    refund = gateway.call(
        "refund",
        {
            "refundRequestId": "RF-1",
            "paymentId": paid["paymentId"],
            "refundAmount": {"currency": "USD", "value": "300"},
        },
    )
    assert refund["result"]["resultStatus"] == "S"
    listed = gateway.http.get("/_emulator/payments", params={"status": "SUCCESS"}).json()["payments"]
    assert [p["paymentId"] for p in listed] == [paid["paymentId"]]
    assert gateway.http.get("/_emulator/payments", params={"status": "FAIL"}).json()["payments"] == []
    bad = gateway.http.get("/_emulator/payments", params={"status": "DONE"})
    assert bad.status_code == 422 and "status" in bad.json()["error"]
    one = gateway.http.get(f"/_emulator/payments/{paid['paymentId']}").json()
    assert one["paymentStatus"] == "SUCCESS" and one["merchantName"] == "Shop"
    assert [r["refundRequestId"] for r in one["refunds"]] == ["RF-1"]
    titles = [e["title"] for e in one["timeline"]]
    assert "pay call" in titles and "refund call" in titles and "payment SUCCESS" in titles
    assert any(e["kind"] == "notification" for e in one["timeline"])
    missing = gateway.http.get("/_emulator/payments/nope")
    assert missing.status_code == 404 and "paymentId" in missing.json()["error"]


def test_balance_put_changes_what_the_next_pay_can_spend(gateway: Gateway) -> None:
    login = gateway.buyer()["loginId"]
    put = gateway.http.put(f"/_emulator/buyers/{login}/balances/USD", json={"value": "500"})
    assert put.status_code == 200 and put.json()["balance"] == {"currency": "USD", "value": "500"}
    assert gateway.http.get("/_emulator/sandbox").json()["buyers"][0]["balances"]["USD"] == "500"
    assert _pay(gateway, "PR-B", amount=1000)["result"]["resultCode"] == "USER_BALANCE_NOT_ENOUGH"
    gateway.http.put(f"/_emulator/buyers/{login}/balances/USD", json={"value": "100000"})
    assert _pay(gateway, "PR-C", amount=1000)["result"]["resultCode"] == "SUCCESS"
    for value, field in (("-1", "value"), ("1.5", "value"), ("x", "value")):
        r = gateway.http.put(f"/_emulator/buyers/{login}/balances/USD", json={"value": value})
        assert r.status_code == 422 and field in r.json()["error"]
    assert gateway.http.put(f"/_emulator/buyers/{login}/balances/XXX", json={"value": "1"}).status_code == 422
    assert gateway.http.put("/_emulator/buyers/nobody/balances/USD", json={"value": "1"}).status_code == 404


def test_journal_search_filters(gateway: Gateway) -> None:
    _pay(gateway, "PR-D")
    gateway.post("pay", pay_body(gateway.code(), request_id="PR-E"), sign_path="/ams/api/v1/payments/pay")
    rows = gateway.http.get("/console/requests/rows", params={"refused": "1"}).text
    assert "INVALID_SIGNATURE" in rows and ">SUCCESS<" not in rows.replace(" ", "")
    page = gateway.http.get("/console/requests", params={"api": "pay", "refused": "1"})
    assert 'data-refresh="/console/requests/rows?api=pay&amp;refused=1"' in page.text
    assert (
        "INVALID_SIGNATURE" not in gateway.http.get("/console/requests/rows", params={"api": "refund"}).text
    )
    detail = gateway.http.get("/console/requests/2").text
    assert '<mark class="diff">sandbox/</mark>' in detail and "differs" in detail


def test_clock_page_advances_to_the_next_event(gateway: Gateway) -> None:
    token = _csrf(gateway)
    page = gateway.http.get("/console/clock").text
    assert "report cut-off" in page
    gateway.code()  # an unused payment code expires soonest
    assert "payment code expiry" in gateway.http.get("/console/clock").text
    before = gateway.http.get("/_emulator/clock").json()["now"]
    r = gateway.http.post("/console/clock/next", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "payment+code+expiry" in r.headers["location"]
    assert gateway.http.get("/_emulator/clock").json()["now"] > before
    bad = gateway.http.post("/console/clock/advance", data={"csrf_token": token, "duration": "soon"})
    assert bad.status_code == 422 and "duration" in bad.text
    ok = gateway.http.post("/console/clock/advance", data={"csrf_token": token, "duration": "2h"})
    assert ok.status_code == 200 and "Advanced by 2h" in ok.text
    assert gateway.http.post("/console/clock/advance", data={"duration": "2h"}).status_code == 403


def test_pages_escape_sandbox_markup(gateway: Gateway) -> None:
    evil = "<script>alert(1)</script>"
    paid = _pay(gateway, "PR-X", orderDescription=evil)
    for url in (f"/console/payments/{paid['paymentId']}", "/console/requests/1", "/console/payments"):
        text = gateway.http.get(url).text
        assert evil not in text, url
    assert "&lt;script&gt;" in gateway.http.get(f"/console/payments/{paid['paymentId']}").text


def test_faults_page_lists_every_declared_kind_and_removes(gateway: Gateway) -> None:
    token = _csrf(gateway, "/console/scenarios")
    page = gateway.http.get("/console/scenarios").text
    for kind in FAULT_KINDS:
        assert f'<option value="{kind}">' in page
    r = gateway.http.post(
        "/console/faults", data={"csrf_token": token, "api": "pay", "kind": "latency", "ms": "", "count": "2"}
    )
    assert r.status_code == 422 and "latency needs ms" in r.text
    gateway.http.post(
        "/console/faults", data={"csrf_token": token, "api": "pay", "kind": "http_status", "count": "2"}
    )
    listed = gateway.http.get("/_emulator/faults").json()["faults"]
    assert [(f["kind"], f["remaining"]) for f in listed] == [("http_status", 2)]
    gateway.http.post(f"/console/simulations/{listed[0]['id']}/remove", data={"csrf_token": token})
    assert gateway.http.get("/_emulator/faults").json()["faults"] == []


def test_order_code_wallet_page_shows_state_and_no_pay_once_paid(gateway: Gateway) -> None:
    body = pay_body("", request_id="OC-1")
    body["paymentFactor"] = {"inStorePaymentScenario": "OrderCode"}
    body["paymentMethod"] = {"paymentMethodType": "CONNECT_WALLET"}
    body["paymentNotifyUrl"] = NOTIFY
    created = gateway.call("pay", body)
    url = f"/_emulator/wallet/c/{created['paymentId']}"
    page = gateway.http.get(url).text
    assert "10.00 USD" in page and "Shop" in page and "unit test order" in page
    assert re.search(r'id="status">PROCESSING<', page) and 'id="result-code">SUCCESS<' in page
    assert "<button>Pay</button>" in page
    token = gateway.http.cookies[CSRF_COOKIE]
    assert gateway.http.post(f"{url}/pay", data={"buyer": gateway.buyer()["loginId"]}).status_code == 403
    slow = gateway.buyer("needs_verification")["loginId"]
    r = gateway.http.post(f"{url}/pay", data={"buyer": slow, "csrf_token": token})
    assert r.status_code == 200 and "Waiting for confirmation" in r.text and "Paid." not in r.text
    assert "waiting for confirmation" in r.text and "<button>Pay</button>" not in r.text
    assert "Approve" in r.text
    done = gateway.http.post(f"{url}/confirm", data={"buyer": slow, "approve": "true", "csrf_token": token})
    assert 'id="status">SUCCESS<' in done.text and "<button>Pay</button>" not in done.text
