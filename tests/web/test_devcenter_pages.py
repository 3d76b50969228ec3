"""Developer Center pages over the in-process app: wizard refusals, launch gate, CSRF, offline assets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings

from .test_layout import OFFSITE

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ALERT = re.compile(r'role="alert">([^<]*)<')


@pytest.fixture
def http(tmp_path: Path) -> Any:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0)
    with TestClient(create_app(settings)) as client:
        yield client


def token(http: TestClient, path: str = "/applications/new") -> str:
    match = CSRF.search(http.get(path).text)
    assert match
    return match.group(1)


def create(http: TestClient, **fields: Any) -> str:
    form = {
        "step": "product",
        "role": "MERCHANT",
        "name": "Page shop",
        "type": "Web",
        "region": "SG",
        "description": "",
        "product": "IN_STORE_PAYMENT",
        "scenarios": ["PaymentCode"],
        "testCurrency": "USD",
        **fields,
    }
    response = http.post(
        "/applications/new", data={"csrf_token": token(http), **form}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("/")[2].split("?")[0]


def test_wizard_order_and_refusals(http: TestClient) -> None:
    first = http.get("/applications/new").text
    assert "<h2>Become a developer</h2>" in first and 'for="role">Role<' in first
    csrf = token(http)
    refused = http.post("/applications/new", data={"csrf_token": csrf, "step": "developer", "role": "CHEF"})
    assert refused.status_code == 422 and ALERT.search(refused.text).group(1).startswith("role:")  # type: ignore[union-attr]
    info = http.post("/applications/new", data={"csrf_token": csrf, "step": "developer", "role": "ISV"}).text
    for label in (
        "Application name",
        "Application type",
        "Business registration country/region",
        "Description",
    ):
        assert f">{label}</label>" in info
    assert "<h2>Become a developer</h2>" not in http.get("/applications/new").text
    bad_region = http.post(
        "/applications/new",
        data={"csrf_token": csrf, "step": "info", "role": "ISV", "name": "X", "type": "Web", "region": "ZZ"},
    )
    assert bad_region.status_code == 422 and "region:" in bad_region.text
    step3 = http.post(
        "/applications/new",
        data={"csrf_token": csrf, "step": "info", "role": "ISV", "name": "X", "type": "Web", "region": "SG"},
    ).text
    for label in ("Product", "Scenarios", "Test currency"):
        assert f">{label}</label>" in step3
    no_scenario = http.post(
        "/applications/new",
        data={
            "csrf_token": csrf,
            "step": "product",
            "role": "ISV",
            "name": "X",
            "type": "Web",
            "region": "SG",
            "product": "IN_STORE_PAYMENT",
            "testCurrency": "USD",
        },
    )
    assert no_scenario.status_code == 422 and "scenarios:" in no_scenario.text
    assert len(http.get("/_emulator/applications").json()["applications"]) == 4
    no_csrf = http.post("/applications/new", data={"step": "developer", "role": "ISV"})
    assert no_csrf.status_code == 403


def test_launch_gate_on_the_live_page(http: TestClient) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from emulator.signing import public_key_b64

    cid = create(http)
    http.app.state.runtime.launch_checks.append(lambda client_id: ["no passed acceptance run"])  # type: ignore[attr-defined]
    live = http.get(f"/applications/{cid}/live").text
    assert "no passed acceptance run" in live and "Launch without passing acceptance" in live
    csrf = token(http, f"/applications/{cid}/live")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    saved = http.post(
        f"/applications/{cid}/live/public-key",
        data={"csrf_token": csrf, "publicKey": public_key_b64(key.public_key())},
    )
    assert "Live public key saved" in saved.text
    refused = http.post(f"/applications/{cid}/live/launch", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "no passed acceptance run" in refused.text
    forced = http.post(f"/applications/{cid}/live/launch", data={"csrf_token": csrf, "force": "1"})
    assert forced.status_code == 200 and "Launched" in forced.text
    basic = http.get(f"/applications/{cid}").text
    assert "Launched without passing acceptance" in basic and "no passed acceptance run" in basic
    # After launch, a notification URL change waits for the confirm step.
    pending = http.post(
        f"/applications/{cid}/integration/notification-url",
        data={"csrf_token": csrf, "notificationUrl": "http://127.0.0.1:9/notify"},
    )
    assert "waits for your confirmation" in pending.text
    confirmed = http.post(f"/applications/{cid}/live/confirm", data={"csrf_token": csrf})
    assert "Change confirmed" in confirmed.text
    assert http.get(f"/_emulator/applications/{cid}").json()["notificationUrl"] == "http://127.0.0.1:9/notify"


def test_pages_reference_no_other_host_and_docs_work_offline(http: TestClient) -> None:
    cid = create(http, role="ISV")
    paths = ["/", "/applications/new", "/_emulator/docs", f"/_emulator/isv/{cid}/authorize"]
    paths += [f"/applications/{cid}{s}" for s in ("", "/sandbox", "/integration", "/live", "/authorization")]
    for path in paths:
        page = http.get(path)
        assert page.status_code == 200, path
        assert OFFSITE.findall(page.text) == [], path
    docs = http.get("/_emulator/docs").text
    assert "POST /_emulator/applications" in docs and "cdn" not in docs.lower()
    assert http.get("/applications/SANDBOX_NOPE").status_code == 404


def test_admin_token_guards_the_developer_center(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, admin_token="tok")
    with TestClient(create_app(settings)) as http:
        home = http.get("/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"].startswith("/login")
        assert http.get("/_emulator/applications").status_code == 401
        ok = http.get("/_emulator/applications", headers={"Authorization": "Bearer tok"})
        assert ok.status_code == 200
