"""Merchant registrations on the Developer Center page and the console page, in process."""

from __future__ import annotations

import os

import pytest

from emulator.web.security import CSRF_COOKIE

from ..conftest import Gateway
from .test_registration_flow import call, code, reg_body


@pytest.fixture(autouse=True)
def _frozen_clock(gateway: Gateway) -> None:
    assert gateway.http.post("/_emulator/clock", json={"frozen": True}).status_code == 200


def _csrf(gateway: Gateway) -> str:
    gateway.http.get("/console/registrations")
    return str(gateway.http.cookies[CSRF_COOKIE])


@pytest.fixture(autouse=True)
def _a_clean_emulator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs before the app is built: a variable another test left set (an admin token) must not
    # turn these pages into the sign-in page.
    for name in [n for n in os.environ if n.startswith("ALIPAY_EMULATOR_") and "TEST" not in n]:
        monkeypatch.delenv(name)


def test_registration_shows_on_both_pages_and_the_console_rejects_it(gateway: Gateway) -> None:
    acquirer = gateway.by_role("ACQUIRER")
    body = reg_body("REG-P1", merchant="SUB-<b>")
    body["merchantInfo"]["merchantDisplayName"] = "Noodles <script>x</script>"
    assert code(call(gateway, "registration", body)) == "SUCCESS"
    [row] = gateway.http.get("/_emulator/registrations").json()["registrations"]
    rid = row["registrationId"]

    dev = gateway.http.get(f"/applications/{acquirer['clientId']}")
    assert dev.status_code == 200
    assert "Merchant registrations" in dev.text and rid in dev.text and "PENDING" in dev.text
    assert "SUB-&lt;b&gt;" in dev.text and "<script>x</script>" not in dev.text
    assert row["reviewDueAt"] in dev.text

    page = gateway.http.get("/console/registrations", params={"status": "PENDING"})
    assert page.status_code == 200 and rid in page.text
    assert f'action="/console/registrations/{rid}/decision"' in page.text
    assert '<label for="outcome-1">Outcome</label>' in page.text
    assert "<script>x</script>" not in page.text
    assert rid not in gateway.http.get("/console/registrations", params={"status": "APPROVED"}).text
    assert gateway.http.get("/console/registrations", params={"status": "DONE"}).status_code == 422

    token = _csrf(gateway)
    url = f"/console/registrations/{rid}/decision"
    refused = gateway.http.post(
        url, data={"csrf_token": token, "outcome": "REJECTED", "reason": "", "immediately": "true"}
    )
    assert refused.status_code == 422 and "reason is required" in refused.text
    after = gateway.http.get(f"/_emulator/registrations/{rid}").json()
    assert after["status"] == "PENDING" and after["outcome"] == "APPROVED" and after["chosenBy"] == "default"

    # Without the CSRF token nothing happens either.
    assert gateway.http.post(url, data={"outcome": "APPROVED"}).status_code == 403

    done = gateway.http.post(
        url,
        data={
            "csrf_token": token,
            "outcome": "REJECTED",
            "reason": "Licence <expired>",
            "immediately": "true",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    decided = gateway.http.get(f"/_emulator/registrations/{rid}").json()
    assert decided["status"] == "REJECTED" and decided["reason"] == "Licence <expired>"
    assert decided["chosenBy"] == "control"
    page = gateway.http.get(done.headers["location"])
    assert "REJECTED" in page.text and "Licence &lt;expired&gt;" in page.text
    assert f'action="/console/registrations/{rid}/decision"' not in page.text
    dev = gateway.http.get(f"/applications/{acquirer['clientId']}")
    assert "REJECTED" in dev.text and "Licence &lt;expired&gt;" in dev.text
    status = call(gateway, "inquiryRegistrationStatus", {"registrationRequestId": "REG-P1"})
    assert status["registrationResult"]["registrationStatus"] == "REJECTED"

    again = gateway.http.post(url, data={"csrf_token": token, "outcome": "APPROVED", "immediately": "true"})
    assert again.status_code == 409


def test_merchant_application_has_no_registrations_section(gateway: Gateway) -> None:
    merchant = gateway.by_role("MERCHANT")
    page = gateway.http.get(f"/applications/{merchant['clientId']}")
    assert page.status_code == 200 and "Merchant registrations" not in page.text
