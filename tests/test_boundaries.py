"""Security boundaries (#14 item 7): the admin token on every control route and page, CSRF on
cookie-authorized forms, notification URLs refused at pay, delivery errors on the retry schedule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.adminauth import SESSION_COOKIE, is_authorized, session_value
from emulator.app import create_app
from emulator.notifications.http import Answer
from emulator.settings import Settings

from .conftest import Gateway, pay_body

TOKEN = "boundary-s3cret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def guarded(settings: Settings) -> Iterator[Gateway]:
    with TestClient(create_app(settings.model_copy(update={"admin_token": TOKEN}))) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox", headers=BEARER).json())


def order_code(gw: Gateway, request_id: str) -> str:
    body = pay_body("", request_id=request_id)
    del body["paymentMethod"]["paymentMethodId"]
    body["paymentFactor"]["inStorePaymentScenario"] = "OrderCode"
    answer = gw.call("pay", body)
    assert answer["result"]["resultStatus"] == "S", answer
    return str(answer["paymentId"])


def test_session_value_and_is_authorized() -> None:
    assert session_value(TOKEN) == session_value(TOKEN) != session_value(TOKEN + "x")
    assert len(session_value(TOKEN)) == 64 and TOKEN not in session_value(TOKEN)
    assert is_authorized(None, None, None)
    assert is_authorized(TOKEN, f"Bearer {TOKEN}", None)
    assert is_authorized(TOKEN, None, session_value(TOKEN))
    assert not is_authorized(TOKEN, "Bearer nope", "nope")
    assert not is_authorized(TOKEN, TOKEN, None)  # no scheme


def test_isv_authorization_page_needs_the_token(guarded: Gateway) -> None:
    http = guarded.http
    isv = guarded.by_role("ISV")["clientId"]
    account = guarded.by_role("MERCHANT")["merchantAccount"]
    page = f"/_emulator/isv/{isv}/authorize"
    form = {"merchantAccount": account["loginId"], "password": account["password"]}
    shown = http.get(page, follow_redirects=False)
    assert shown.status_code == 303 and shown.headers["location"].startswith("/login")
    # A cross-site post without the page session and its CSRF token mints nothing.
    assert http.post(page, data=form, follow_redirects=False).status_code in (303, 403)
    listed = http.get(f"/_emulator/isv/{isv}/authorizations", headers=BEARER).json()["authorizations"]
    assert all(a["merchantCustomerId"] != guarded.by_role("MERCHANT")["customerId"] for a in listed)
    http.cookies.set(SESSION_COOKIE, session_value(TOKEN))
    assert http.get(page, follow_redirects=False).status_code != 303


def test_wallet_page_and_its_forms_need_the_token(guarded: Gateway) -> None:
    http = guarded.http
    payment_id = order_code(guarded, "page-1")
    page = f"/_emulator/wallet/c/{payment_id}"
    buyer = guarded.buyer()["loginId"]

    def status() -> str:
        return str(http.get(f"/_emulator/payments/{payment_id}", headers=BEARER).json()["paymentStatus"])

    # Without the page session: the page sends the browser to sign in, its forms change nothing.
    shown = http.get(page, follow_redirects=False)
    assert shown.status_code == 303 and shown.headers["location"].startswith("/login")
    for path, data in (
        (f"{page}/pay", {"buyer": buyer}),
        (f"{page}/confirm", {"buyer": buyer, "approve": "true"}),
    ):
        assert http.post(path, data=data, follow_redirects=False).status_code in (303, 403), path
    assert status() == "PROCESSING"
    http.cookies.set(SESSION_COOKIE, session_value(TOKEN))
    try:
        assert http.get(page).status_code == 200
        # A form post without the page's CSRF token (another site's form) pays nothing...
        evil = http.post(f"{page}/pay", data={"buyer": buyer}, follow_redirects=False)
        assert evil.status_code == 403 and status() == "PROCESSING"
        # ...the emulator's own form pays.
        csrf = http.cookies["alipay_emulator_csrf"]
        ok = http.post(f"{page}/pay", data={"buyer": buyer, "csrf_token": csrf})
        assert ok.status_code == 200 and status() == "SUCCESS"
    finally:
        http.cookies.clear()
    http.cookies.set(SESSION_COOKIE, "forged")
    try:
        assert http.get(page, follow_redirects=False).status_code == 303
    finally:
        http.cookies.clear()


def test_json_control_routes_accept_the_cookie_but_not_cross_site_changes(guarded: Gateway) -> None:
    http = guarded.http
    http.cookies.set(SESSION_COOKIE, session_value(TOKEN))
    try:
        assert http.get("/_emulator/clock").status_code == 200
        moved = http.post(
            "/_emulator/clock", json={"advanceSeconds": 1}, headers={"Origin": "http://evil.example"}
        )
        assert moved.status_code == 403
        assert http.post("/_emulator/clock", json={"advanceSeconds": 1}).status_code == 200
    finally:
        http.cookies.clear()
    # A Bearer header is not sent by browsers on their own: any origin is fine.
    assert http.post("/_emulator/reset", headers={**BEARER, "Origin": "http://elsewhere"}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.0.1:8080/notify",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/x",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_link_local_and_metadata_notify_urls_are_refused_at_pay(gateway: Gateway, url: str) -> None:
    body = pay_body(gateway.code(), request_id="ll-1")
    body["paymentNotifyUrl"] = url
    result = gateway.call("pay", body)["result"]
    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert "paymentNotifyUrl" in result["resultMessage"]
    inquiry = gateway.call("inquiryPayment", {"paymentRequestId": "ll-1"})
    assert inquiry["result"]["resultCode"] == "ORDER_NOT_EXIST"  # nothing was stored


def test_link_local_notify_urls_can_be_allowed(settings: Settings) -> None:
    allowed = settings.model_copy(update={"notify_allow_link_local": True})
    with TestClient(create_app(allowed)) as http:
        gw = Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())
        body = pay_body(gw.code(), request_id="ll-2")
        body["paymentNotifyUrl"] = "http://169.254.169.254/notify"
        assert gw.call("pay", body)["result"]["resultCode"] == "SUCCESS"


@pytest.mark.parametrize("bad", ["\r\nX-Injected: 1", "\n", "\x00", "\t", "\x7f"])
def test_control_characters_in_notify_urls_are_refused(gateway: Gateway, bad: str) -> None:
    body = pay_body(gateway.code(), request_id="crlf-1")
    body["paymentNotifyUrl"] = f"http://127.0.0.1:9/notify{bad}"
    result = gateway.call("pay", body)["result"]
    assert result["resultCode"] == "PARAM_ILLEGAL" and "paymentNotifyUrl" in result["resultMessage"]


def test_any_delivery_error_is_an_attempt_on_the_retry_schedule(gateway: Gateway) -> None:
    rt: Any = gateway.http.app.state.runtime  # type: ignore[attr-defined]

    def explode(url: str, body: bytes, headers: object) -> Answer:
        raise ValueError("not a transport error")

    rt.notifier.post = explode
    body = pay_body(gateway.code(), request_id="err-notify")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    assert gateway.call("pay", body)["result"]["resultCode"] == "SUCCESS"
    rt.run_due()
    [note] = gateway.http.get("/_emulator/notifications").json()["notifications"]
    assert note["status"] == "PENDING"
    [attempt] = note["attempts"]
    assert attempt["error"].startswith("ValueError: not a transport error")
    assert note["nextAttemptAt"] > attempt["at"]  # the schedule's next step (+2 min)
