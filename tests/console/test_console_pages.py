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


def _order_code(gateway: Gateway, request_id: str, amount: int = 1000) -> dict[str, Any]:
    body = pay_body("", request_id=request_id, amount=amount)
    body["paymentFactor"] = {"inStorePaymentScenario": "OrderCode"}
    body["paymentMethod"] = {"paymentMethodType": "CONNECT_WALLET"}
    body["paymentNotifyUrl"] = NOTIFY
    return gateway.call("pay", body)


def _buyer_session(gateway: Gateway, behaviour: str = "normal") -> tuple[str, str]:
    buyer = gateway.buyer(behaviour)
    token = _csrf(gateway, "/console/wallet")
    wrong = gateway.http.post(
        "/console/wallet/sign-in", data={"csrf_token": token, "loginId": buyer["loginId"], "password": "nope"}
    )
    assert wrong.status_code == 401 and "password" in wrong.text
    r = gateway.http.post(
        "/console/wallet/sign-in",
        data={"csrf_token": token, "loginId": buyer["loginId"], "password": buyer["password"]},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/console/wallet/{buyer['loginId']}"
    return buyer["loginId"], token


def test_wallet_needs_the_buyer_sign_in_and_confirms_a_payment_waiting_for_the_pin(gateway: Gateway) -> None:
    login = gateway.buyer("needs_verification")["loginId"]
    away = gateway.http.get(f"/console/wallet/{login}", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/console/wallet?loginId=")
    login, token = _buyer_session(gateway, "needs_verification")
    other = gateway.buyer()["loginId"]
    assert gateway.http.get(f"/console/wallet/{other}", follow_redirects=False).status_code == 303
    created = _order_code(gateway, "OC-PIN", amount=2550)
    code_value = gateway.http.get(f"/_emulator/payments/{created['paymentId']}").json()
    assert code_value["paymentStatus"] == "PROCESSING"
    scanned = gateway.http.post(
        f"/console/wallet/{login}/scan",
        data={
            "csrf_token": token,
            "codeValue": created["orderCodeForm"]["codeDetails"][0]["codeValue"],
        },
    )
    assert scanned.status_code == 200 and "waiting for your PIN" in scanned.text
    assert "25.50 USD" in scanned.text
    assert f'aria-label="Approve payment {created["paymentId"]}"' in scanned.text
    done = gateway.http.post(
        f"/console/wallet/{login}/confirm",
        data={"csrf_token": token, "paymentId": created["paymentId"], "approve": "true"},
    )
    assert "SUCCESS (SUCCESS)" in done.text and "Nothing waits for you" in done.text
    unknown = gateway.http.post(f"/console/wallet/{login}/scan", data={"csrf_token": token, "codeValue": "x"})
    assert unknown.status_code == 404 and "unknown code" in unknown.text


def test_wallet_code_images_belong_to_the_signed_in_buyer(gateway: Gateway) -> None:
    login, token = _buyer_session(gateway)
    shown = gateway.http.post(
        f"/console/wallet/{login}/payment-code", data={"csrf_token": token, "digits": "24"}
    )
    code = re.search(r'id="payment-code-digits">(\d+)<', shown.text)
    assert code is not None and len(code.group(1)) == 24
    svg = gateway.http.get(f"/console/wallet/{login}/codes/{code.group(1)}/barcode.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert gateway.http.get(f"/console/wallet/{login}/codes/{code.group(1)}/qr.svg").status_code == 200
    assert gateway.http.get(f"/console/wallet/{login}/codes/2812345678901234567/qr.svg").status_code == 404
    bad = gateway.http.post(
        f"/console/wallet/{login}/payment-code", data={"csrf_token": token, "digits": "30"}
    )
    assert bad.status_code == 422 and "digits" in bad.text
    topped = gateway.http.post(
        f"/console/wallet/{login}/balance", data={"csrf_token": token, "currency": "USD", "balance": "12.345"}
    )
    assert topped.status_code == 422 and "balance" in topped.text


def test_edit_and_send_posts_a_signed_body_once(gateway: Gateway) -> None:
    from emulator.testing import NotificationReceiver

    token = _csrf(gateway, "/console/notifications")
    app = gateway.app()
    with NotificationReceiver() as receiver:
        bad = gateway.http.post(
            "/console/notifications/send",
            data={"csrf_token": token, "clientId": app["clientId"], "url": receiver.url, "body": "{nope"},
        )
        assert bad.status_code == 422 and "body: not JSON" in bad.text and "{nope" in bad.text
        r = gateway.http.post(
            "/console/notifications/send",
            data={
                "csrf_token": token,
                "clientId": app["clientId"],
                "url": receiver.url,
                "body": '{"notifyType": "PAYMENT_RESULT", "paymentId": "<b>x</b>"}',
            },
        )
        [note] = receiver.wait_for(1)
    assert r.status_code == 200 and "Sent: 200" in r.text and "&lt;b&gt;x&lt;/b&gt;" in r.text
    assert note.verify(gateway.sandbox["alipayPublicKey"]) and note.json()["paymentId"] == "<b>x</b>"
    listed = gateway.http.get("/_emulator/notifications").json()["notifications"]
    assert listed[0]["notifyType"] == "MANUAL" and listed[0]["nextAttemptAt"] is None


def test_reconciliation_page_generates_lists_and_downloads(gateway: Gateway) -> None:
    paid = _pay(gateway, "PR-R")
    token = _csrf(gateway, "/console/reconciliation")
    app = gateway.app()
    today = gateway.http.get("/_emulator/clock").json()["now"][:10]
    bad = gateway.http.post("/console/reconciliation/run", data={"csrf_token": token, "date": "tomorrow"})
    assert bad.status_code == 422 and "date" in bad.text
    r = gateway.http.post(
        "/console/reconciliation/run", data={"csrf_token": token, "date": today, "clientId": app["clientId"]}
    )
    assert r.status_code == 200 and "Generated" in r.text
    links = re.findall(r'href="(/console/reconciliation/files/[^"]+)"', r.text)
    assert links
    assert any(paid["paymentId"] in gateway.http.get(link).text for link in links)
    assert app["sftp"]["username"] in r.text and "Host" in r.text
    assert gateway.http.get("/console/reconciliation/files/../../etc/passwd").status_code == 404


def test_request_log_time_range_and_payments_by_application(gateway: Gateway) -> None:
    _pay(gateway, "PR-T")
    now = gateway.http.get("/_emulator/clock").json()["now"]
    later = gateway.http.get("/console/requests/rows", params={"since": "2999-01-01T00:00:00+08:00"}).text
    assert "No gateway calls match" in later
    within = gateway.http.get("/console/requests/rows", params={"until": now[:19]}).text
    assert "SUCCESS" in within
    app = gateway.app()
    assert (
        len(gateway.http.get("/_emulator/payments", params={"clientId": app["clientId"]}).json()["payments"])
        == 1
    )
    assert gateway.http.get("/_emulator/payments", params={"clientId": "OTHER"}).json()["payments"] == []
    detail = gateway.http.get("/console/requests/1").text
    assert 'id="answer-body"' in detail and "response-time" in detail


def test_console_pages_and_wallet_page_need_the_admin_session(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, admin_token="tok-console")
    with TestClient(create_app(settings)) as http:
        for url in ("/console/requests", "/console/wallet", "/console/clock", "/_emulator/wallet/c/x"):
            r = http.get(url, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), url
        assert http.get("/_emulator/payments").status_code == 401
        token = http.get("/login").cookies.get(CSRF_COOKIE) or http.cookies[CSRF_COOKIE]
        http.post("/login", data={"adminToken": "tok-console", "next": "/", "csrf_token": token})
        assert http.get("/console/requests").status_code == 200


def test_every_domain_contributes_its_next_event(gateway: Gateway) -> None:
    import time as _time

    rt = gateway.http.app.state.runtime  # type: ignore[attr-defined]
    kinds = {e.kind for e in rt.upcoming(rt.clock.now())}
    assert {"report cut-off", "transaction details", "settlement"} <= kinds
    assert "order code expiry" not in kinds
    _order_code(gateway, "OC-NEXT")
    _pay(gateway, "PR-NEXT")  # its notification goes to a closed port: a retry gets scheduled
    deadline = _time.monotonic() + 10
    while "notification retry" not in {e.kind for e in rt.upcoming(rt.clock.now())}:
        assert _time.monotonic() < deadline, "the first delivery attempt never happened"
        _time.sleep(0.1)
    events = rt.upcoming(rt.clock.now())
    kinds = [e.kind for e in events]
    assert "order code expiry" in kinds and "notification retry" in kinds
    assert [e.at for e in events] == sorted(e.at for e in events)
    slow = gateway.buyer("needs_verification")["loginId"]
    created = _order_code(gateway, "OC-SLOW")
    gateway.http.post(
        "/_emulator/wallet/scan",
        json={"buyer": slow, "codeValue": created["orderCodeForm"]["codeDetails"][0]["codeValue"]},
    )
    assert "verification timeout" in {e.kind for e in rt.upcoming(rt.clock.now())}
