"""Choosing a merchant registration's outcome in the console, in real Chromium."""

from __future__ import annotations

import json
from typing import Any

import httpx

from emulator.signing import canonical_message, load_private_key, sign, signature_header
from emulator.testing import EmulatorServer


def _register(base: str, app: dict[str, Any]) -> None:
    path = "/ams/sandbox/api/v1/merchants/registration"
    body = {
        "productCodes": ["IN_STORE_PAYMENT"],
        "registrationRequestId": "REG-BROWSER-1",
        "merchantInfo": {
            "referenceMerchantId": "SUB-BROWSER",
            "merchantDisplayName": "Browser Noodles",
            "merchantMCC": "5812",
            "registrationDetail": {
                "legalName": "Browser Noodles Ltd",
                "registrationType": "ENTERPRISE_REGISTRATION",
            },
        },
    }
    raw = json.dumps(body).encode()
    when = "2026-12-01T10:00:00+08:00"
    message = canonical_message(method="POST", path=path, client_id=app["clientId"], time=when, body=raw)
    signature = signature_header(sign(message, load_private_key(app["merchantPrivateKeyPem"])))
    answer = httpx.post(
        base + path,
        content=raw,
        headers={
            "content-type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "request-time": when,
            "signature": signature,
        },
    ).json()
    assert answer["result"]["resultCode"] == "SUCCESS", answer


def test_reject_a_registration_with_the_labelled_fields(page: Any, tmp_path: Any) -> None:
    server = EmulatorServer(tmp_path / "data", tls_port=0)
    server.start()
    try:
        base = server.http_url
        apps = httpx.get(f"{base}/_emulator/sandbox").json()["applications"]
        acquirer = next(a for a in apps if a["role"] == "ACQUIRER")
        _register(base, acquirer)
        page.goto(f"{base}/applications/{acquirer['clientId']}")
        assert "PENDING" in page.locator("#registrations").inner_text()
        page.goto(f"{base}/console/registrations?status=PENDING")
        page.get_by_label("Outcome").select_option("REJECTED")
        page.get_by_role("button", name="Decide").click()
        assert "reason is required" in page.content()
        page.get_by_label("Outcome").select_option("REJECTED")
        page.get_by_label("Reason").fill("Address not verified")
        assert page.get_by_label("Decide now").is_checked()
        page.get_by_role("button", name="Decide").click()
        page.wait_for_url("**/console/registrations?flash=*")
        table = page.locator("#registrations").inner_text()
        assert "REJECTED" in table and "Address not verified" in table
        [row] = httpx.get(f"{base}/_emulator/registrations").json()["registrations"]
        assert row["status"] == "REJECTED" and row["reason"] == "Address not verified"
    finally:
        assert server.stop() == 0
