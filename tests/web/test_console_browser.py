"""The sandbox console in real Chromium, against a live emulator driven by the official SDK."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.signing import canonical_message, load_private_key, sign, signature_header
from emulator.testing import NotificationReceiver

from ..conftest import Live

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as r:
        yield r


def _sign_in_buyer(page: Any, base: str, buyer: dict[str, Any]) -> None:
    page.goto(f"{base}/console/wallet")
    page.get_by_label("Login ID").fill(buyer["loginId"])
    page.get_by_label("Password").fill(buyer["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/console/wallet/{buyer['loginId']}")


def test_refused_signature_shows_up_live_with_the_differing_part_marked(emu: Live, page: Any) -> None:
    base = emu.process.http_url
    page.goto(f"{base}/console/requests?refused=1")
    assert page.locator("#request-log").inner_text().count("INVALID_SIGNATURE") == 0
    app = emu.app()
    raw = json.dumps({"paymentRequestId": "SIG-1", "note": "<script>alert(1)</script>"}).encode()
    when = "2026-12-01T10:00:00+08:00"
    # Signed over /ams/api, sent to /ams/sandbox/api: the classic prefix mistake.
    message = canonical_message(
        method="POST", path="/ams/api/v1/payments/pay", client_id=app["clientId"], time=when, body=raw
    )
    signature = signature_header(sign(message, load_private_key(app["merchantPrivateKeyPem"])))
    answer = httpx.post(
        f"{base}/ams/sandbox/api/v1/payments/pay",
        content=raw,
        headers={
            "content-type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "request-time": when,
            "signature": signature,
        },
    ).json()
    assert answer["result"]["resultCode"] == "INVALID_SIGNATURE"
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # The open page learns of the call by itself (the live region refreshes).
    row = page.locator("#request-log tr.request-row", has_text="INVALID_SIGNATURE")
    row.wait_for(timeout=10_000)
    row.get_by_role("link").first.click()
    page.wait_for_url(re.compile(r".*/console/requests/\d+$"))
    differing = page.locator("#signature-comparison tr.differs")
    assert differing.count() == 1
    assert differing.get_attribute("data-part") == "method and path"
    assert differing.locator("mark.diff").first.inner_text() == "sandbox/"
    assert "other path prefix" in page.locator("#signature-summary").inner_text()
    assert "<script>alert(1)</script>" in page.locator("body").inner_text()
    assert dialogs == []


def test_resend_from_the_page_reaches_the_receiver_again(
    emu: Live, page: Any, receiver: NotificationReceiver
) -> None:
    base = emu.process.http_url
    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    body = emu.sdk.body(
        "pay_code",
        emu.client(app),
        paymentRequestId="RESEND-1",
        currency=app["testCurrency"],
        amount=700,
        paymentCode=code,
        notifyUrl=receiver.url,
    )
    assert body["result"]["resultCode"] == "SUCCESS"
    receiver.wait_for(1)
    page.goto(f"{base}/console/notifications")
    page.locator("#outbox").get_by_role("link", name=body["paymentId"]).wait_for()
    page.locator("#outbox tbody tr").first.get_by_role("link").first.click()
    assert page.locator("#attempts tr.attempt").count() == 1
    page.get_by_role("button", name="Resend").click()
    page.wait_for_url(re.compile(r".*flash=.*"))
    assert "Attempt 2 sent: 200" in page.locator(".flash").inner_text()
    assert page.locator("#attempts tr.attempt").count() == 2
    notes = receiver.wait_for(2)
    assert len(notes) == 2 and notes[1].json()["paymentId"] == body["paymentId"]


def test_buyer_shows_a_24_digit_code_the_sdk_pays_it_and_the_timeline_follows(
    emu: Live, page: Any, receiver: NotificationReceiver
) -> None:
    base = emu.process.http_url
    buyer = emu.buyer()
    _sign_in_buyer(page, base, buyer)
    assert re.search(r"\d USD", page.locator("#balances").inner_text())
    page.get_by_label("Digits").select_option("24")
    page.get_by_role("button", name="Show payment code").click()
    digits = page.locator("#payment-code-digits").inner_text()
    assert re.fullmatch(r"(2[5-9]|30)\d{22}", digits)
    for name in ("Barcode of the payment code", "QR code of the payment code"):
        image = page.get_by_role("img", name=name)
        assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    app = emu.app()
    paid = emu.sdk.body(
        "pay_code",
        emu.client(app),
        paymentRequestId="WALLET-24",
        currency=app["testCurrency"],
        amount=1250,
        paymentCode=digits,
        notifyUrl=receiver.url,
        description="<script>alert(1)</script> coffee",
    )
    assert paid["result"]["resultCode"] == "SUCCESS"
    receiver.wait_for(1)
    page.goto(f"{base}/console/payments/{paid['paymentId']}")
    timeline = page.locator("#timeline")
    assert "pay call" in timeline.inner_text()
    # The attempt is recorded just after the receiver answered: reload until the page has it.
    for _ in range(50):
        if "attempt 1" in timeline.inner_text():
            break
        time.sleep(0.2)
        page.reload()
    assert "PAYMENT_RESULT notification, attempt 1" in timeline.inner_text()
    assert "report row" not in timeline.inner_text()
    assert "<script>alert(1)</script> coffee" in page.locator("body").inner_text()
    # Past the report cut-off and the file time, from the clock page.
    page.goto(f"{base}/console/clock")
    page.get_by_label("Advance by").fill("1d")
    page.get_by_role("button", name="Advance", exact=True).click()
    assert "Advanced by 1d" in page.locator(".flash").inner_text()
    page.goto(f"{base}/console/payments/{paid['paymentId']}")
    rows = page.locator("#timeline li.kind-report")
    assert rows.count() >= 1
    assert re.search(r"report row: .*transactionItems.*line \d+", rows.first.inner_text())
    href = rows.first.get_by_role("link").get_attribute("href")
    assert href is not None
    csv = page.request.get(base + href)
    assert csv.status == 200 and paid["paymentId"] in csv.text()
    # The buyer's history shows the payment in major units.
    page.goto(f"{base}/console/wallet/{buyer['loginId']}")
    assert "12.50 USD" in page.locator("#history").inner_text()


def test_a_scenario_switched_on_from_the_page_changes_the_next_sdk_call(emu: Live, page: Any) -> None:
    base = emu.process.http_url
    app = emu.app()
    page.goto(f"{base}/console/scenarios")
    page.get_by_label("Scenario API", exact=True).select_option("pay")
    page.get_by_label("Scenario application", exact=True).select_option(app["clientId"])
    page.get_by_label("Result code", exact=True).fill("RISK_REJECT")
    page.get_by_label("Scenario calls", exact=True).fill("1")
    page.get_by_role("button", name="Switch on").click()
    assert "answers RISK_REJECT" in page.locator("#simulations").inner_text()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    client = emu.client(app)
    args = {"currency": app["testCurrency"], "amount": 300, "notifyUrl": "http://127.0.0.1:9/notify"}
    first = emu.sdk.body("pay_code", client, paymentRequestId="SCN-1", paymentCode=code, **args)
    assert first["result"]["resultCode"] == "RISK_REJECT"
    page.reload()
    assert "Nothing switched on" in page.locator("#simulations").inner_text()
    second = emu.sdk.body("pay_code", client, paymentRequestId="SCN-2", paymentCode=code, **args)
    assert second["result"]["resultCode"] == "SUCCESS"


def test_balance_top_up_from_the_wallet_changes_what_the_next_pay_can_spend(emu: Live, page: Any) -> None:
    base = emu.process.http_url
    buyer = emu.buyer()
    app = emu.app()
    client = emu.client(app)
    cur = app["testCurrency"]
    _sign_in_buyer(page, base, buyer)
    page.get_by_label("Currency").select_option(cur)
    page.get_by_label("New balance").fill("5.00")
    page.get_by_role("button", name="Set balance").click()
    assert f"5.00 {cur}" in page.locator("#balances").inner_text()
    notify = "http://127.0.0.1:9/notify"
    code = emu.control.payment_code(buyer["loginId"])
    poor = emu.sdk.body(
        "pay_code",
        client,
        paymentRequestId="TOP-1",
        currency=cur,
        amount=1000,
        paymentCode=code,
        notifyUrl=notify,
    )
    assert poor["result"]["resultCode"] == "USER_BALANCE_NOT_ENOUGH"
    page.get_by_label("New balance").fill("25.00")
    page.get_by_role("button", name="Set balance").click()
    assert f"25.00 {cur}" in page.locator("#balances").inner_text()
    code = emu.control.payment_code(buyer["loginId"])
    rich = emu.sdk.body(
        "pay_code",
        client,
        paymentRequestId="TOP-2",
        currency=cur,
        amount=1000,
        paymentCode=code,
        notifyUrl=notify,
    )
    assert rich["result"]["resultCode"] == "SUCCESS"
    page.reload()
    assert f"15.00 {cur}" in page.locator("#balances").inner_text()
