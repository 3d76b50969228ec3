"""The Developer Center in real Chromium; the official Python SDK pays with what the pages show."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.signing import private_key_pkcs1_pem, public_key_b64

from ..conftest import Live

pytestmark = pytest.mark.e2e
NOTIFY = "http://127.0.0.1:9/notify"


@pytest.fixture
def created(emu: Live) -> Iterator[list[str]]:
    """Client IDs the test creates; deleted afterwards (the live emulator is shared)."""
    ids: list[str] = []
    yield ids
    for cid in ids:
        emu.control.delete_application(cid)


def _text(page: Any, element_id: str) -> str:
    return str(page.locator(f"#{element_id}").text_content()).strip()


def _pay(emu: Live, client: dict[str, Any], *, request_id: str, currency: str, buyer: str) -> dict[str, Any]:
    code = emu.control.payment_code(buyer)
    return emu.sdk.body(
        "pay_code",
        client,
        paymentRequestId=request_id,
        currency=currency,
        amount=1000,
        paymentCode=code,
        notifyUrl=NOTIFY,
    )


def test_wizard_sandbox_page_and_an_sdk_payment(page: Any, emu: Live, created: list[str]) -> None:
    page.goto(emu.process.http_url + "/")
    page.get_by_role("link", name="Create application").click()
    if page.get_by_role("heading", name="Become a developer").count():
        page.get_by_label("Role").select_option("MERCHANT")
        page.get_by_role("button", name="Continue").click()
    page.get_by_label("Role").select_option("MERCHANT")
    page.get_by_label("Application name").fill("Browser shop")
    page.get_by_label("Application type").select_option("POS terminal")
    page.get_by_label("Business registration country/region").select_option("JP")
    page.get_by_label("Description").fill("made in Chromium")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Product").select_option("IN_STORE_PAYMENT")
    page.get_by_label("Scenarios").select_option(["PaymentCode", "OrderCode"])
    page.get_by_label("Test currency").select_option("EUR")
    page.get_by_role("button", name="Create application").click()
    page.wait_for_url("**/applications/SANDBOX_*")
    assert "Application created" in page.content()
    client_id = page.url.rsplit("/", 1)[1].split("?")[0]
    created.append(client_id)
    page.get_by_role("link", name="Sandbox resources").click()
    assert _text(page, "client-id") == client_id
    private = page.locator("#merchant-private-key-pem")
    assert not private.is_visible()  # hidden until revealed
    page.locator('button[data-reveal="merchant-private-key-pem"]').click()
    assert private.is_visible()
    private_pem = str(private.text_content()).strip()  # what the Copy button copies
    alipay_key = _text(page, "alipay-public-key")
    buyer = _text(page, "buyer-account")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download key files").click()
    archive = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))
    assert archive.read(f"TEST-ONLY-{client_id}-merchant-private-pkcs1.pem").decode().strip() == private_pem
    client = {
        "gateway": "https://localhost",
        "clientId": client_id,
        "privateKey": private_pem,
        "alipayPublicKey": alipay_key,
    }
    paid = _pay(emu, client, request_id="WEB-1", currency="EUR", buyer=buyer)
    assert paid["result"]["resultCode"] == "SUCCESS", paid
    page.goto(f"{emu.process.http_url}/")
    row = page.get_by_role("row").filter(has_text=client_id)
    assert "EUR" in row.inner_text() and "MERCHANT" in row.inner_text() and "SANDBOX" in row.inner_text()


def test_key_upload_messages(page: Any, emu: Live, created: list[str]) -> None:
    app = emu.control.create_application(role="MERCHANT", name="Key shop", test_currency="USD")
    created.append(app["clientId"])
    page.goto(f"{emu.process.http_url}/applications/{app['clientId']}/integration")

    def upload(text: str) -> str:
        page.get_by_label("Public key", exact=True).fill(text)
        page.get_by_label("Key version").fill("1")
        page.get_by_role("button", name="Upload public key").click()
        return str(page.get_by_role("alert").or_(page.get_by_role("status")).first.inner_text())

    assert "Alipay public key" in upload(app["alipayPublicKey"])
    refused = upload(app["merchantPrivateKeyPem"])
    assert "PRIVATE key" in refused and "not stored" in refused
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    b64 = public_key_b64(mine.public_key())
    assert "Public key version 1 uploaded (removed line breaks and spaces)" in upload(
        b64[:64] + "\n" + b64[64:]
    )
    page.get_by_role("link", name="Sandbox resources").click()
    assert page.locator("#no-private-key").is_visible()
    client = {
        "gateway": "https://localhost",
        "clientId": app["clientId"],
        "privateKey": private_key_pkcs1_pem(mine),
        "alipayPublicKey": app["alipayPublicKey"],
    }
    paid = _pay(emu, client, request_id="WEB-K", currency="USD", buyer=app["buyer"]["loginId"])
    assert paid["result"]["resultCode"] == "SUCCESS"


def _launch_in_browser(page: Any, emu: Live, client_id: str) -> tuple[rsa.RSAPrivateKey, str, str]:
    live_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    page.goto(f"{emu.process.http_url}/applications/{client_id}/live")
    page.get_by_role("button", name="Launch").click()
    assert "livePublicKey" in str(page.get_by_role("alert").inner_text())
    page.get_by_label("Public key", exact=True).fill(public_key_b64(live_key.public_key()))
    page.get_by_role("button", name="Upload public key").click()
    # The go-live gate (issue #10): no passed acceptance run yet, so Launch is refused...
    page.get_by_role("button", name="Launch").click()
    assert "acceptance" in str(page.get_by_role("alert").inner_text())
    # ...unless forced, which Basic Information then shows.
    page.get_by_label("Launch without passing acceptance").check()
    page.get_by_role("button", name="Launch").click()
    assert "Launched" in str(page.get_by_role("status").inner_text())
    return live_key, _text(page, "production-client-id"), _text(page, "live-alipay-public-key")


def test_launch_and_pay_with_the_production_client_id(page: Any, emu: Live, created: list[str]) -> None:
    app = emu.control.create_application(role="ACQUIRER", name="Going live", test_currency="SGD")
    created.append(app["clientId"])
    live_key, production, live_alipay = _launch_in_browser(page, emu, app["clientId"])
    assert not production.startswith("SANDBOX_") and live_alipay != app["alipayPublicKey"]
    page.get_by_role("link", name="Basic Information").click()
    assert _text(page, "status") == "LAUNCHED_WITHOUT_ACCEPTANCE"  # forced past the acceptance gate
    client = {
        "gateway": "https://localhost",
        "clientId": production,
        "privateKey": private_key_pkcs1_pem(live_key),
        "alipayPublicKey": live_alipay,
    }
    paid = _pay(emu, client, request_id="WEB-L", currency="SGD", buyer=app["buyer"]["loginId"])
    assert paid["result"]["resultCode"] == "SUCCESS", paid
    # The sandbox Alipay key does not verify live answers: the SDK refuses a mixed configuration.
    mixed = emu.sdk.call(
        "pay_code",
        {**client, "alipayPublicKey": app["alipayPublicKey"]},
        paymentRequestId="WEB-L2",
        currency="SGD",
        amount=1000,
        paymentCode=emu.control.payment_code(app["buyer"]["loginId"]),
        notifyUrl=NOTIFY,
    )
    assert mixed["ok"] is False


def test_isv_authorized_by_a_merchant_then_revoked(page: Any, emu: Live, created: list[str]) -> None:
    isv = emu.control.create_application(role="ISV", name="Browser ISV", test_currency="USD")
    created.append(isv["clientId"])
    page.goto(f"{emu.process.http_url}/applications/{isv['clientId']}/authorization")
    assert page.get_by_role("button", name="Generate authorization URL").is_disabled()
    live_key, production, live_alipay = _launch_in_browser(page, emu, isv["clientId"])
    page.get_by_role("link", name="Application Authorization").click()
    page.get_by_role("button", name="Generate authorization URL").click()
    url = _text(page, "authorization-url")
    assert url.endswith(f"/_emulator/isv/{production}/authorize")
    merchant = emu.app("MERCHANT")
    account = emu.control.application(merchant["clientId"])["merchantAccount"]
    page.get_by_role("link", name="Open the authorization page").click()
    page.get_by_label("Merchant account").fill(account["loginId"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Authorize").click()
    assert "merchantAccount" in str(page.get_by_role("alert").inner_text())
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Authorize").click()
    token = _text(page, "agent-token")
    assert len(token) == 48
    client = {
        "gateway": "https://localhost",
        "clientId": production,
        "privateKey": private_key_pkcs1_pem(live_key),
        "alipayPublicKey": live_alipay,
        "agentToken": token,
    }
    paid = _pay(emu, client, request_id="WEB-I1", currency="USD", buyer=emu.buyer()["loginId"])
    assert paid["result"]["resultCode"] == "SUCCESS", paid
    page.goto(f"{emu.process.http_url}/applications/{isv['clientId']}/authorization")
    row = page.get_by_role("row").filter(has_text=token)
    assert merchant["name"] in row.inner_text() and "active" in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    assert "ACCESS_DENIED" in str(page.get_by_role("status").inner_text())
    denied = _pay(emu, client, request_id="WEB-I2", currency="USD", buyer=emu.buyer()["loginId"])
    assert denied["result"]["resultCode"] == "ACCESS_DENIED"
    page.get_by_role("link", name="Basic Information").click()
    assert "Revoked" in page.locator("#authorization-statistics").inner_text()
