"""Control API of the Developer Center: every call, every refusal, nothing half-created."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from emulator.payments.models import Payment
from emulator.signing import (
    SignatureMismatch,
    canonical_message,
    load_public_key,
    parse_signature_header,
    private_key_pkcs1_pem,
    public_key_b64,
    verify,
)

from ..conftest import Gateway, pay_body

NOTIFY = "http://127.0.0.1:9/notify"
NEW = {
    "role": "MERCHANT",
    "name": "Corner shop",
    "type": "POS terminal",
    "region": "SG",
    "description": "a test shop",
    "product": "IN_STORE_PAYMENT",
    "scenarios": ["PaymentCode", "OrderCode"],
    "testCurrency": "EUR",
}


def create(gateway: Gateway, **changes: Any) -> dict[str, Any]:
    response = gateway.http.post("/_emulator/applications", json={**NEW, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def pay(gateway: Gateway, app: dict[str, Any], *, request_id: str = "PR-1", **kw: Any) -> dict[str, Any]:
    body = pay_body(gateway.code(), request_id=request_id, currency=app["testCurrency"])
    body["paymentNotifyUrl"] = NOTIFY
    return gateway.call("pay", body, app=app, **kw)


def count(gateway: Gateway) -> int:
    return len(gateway.http.get("/_emulator/applications").json()["applications"])


@pytest.mark.parametrize("role", ["MERCHANT", "ACQUIRER", "ISV"])
def test_create_gives_the_resources_of_a_seeded_application(gateway: Gateway, role: str) -> None:
    app = create(gateway, role=role)
    seeded = next(a for a in gateway.sandbox["applications"] if a["role"] == role)
    assert set(seeded) <= set(app)
    assert app["clientId"].startswith("SANDBOX_") and app["testCurrency"] == "EUR"
    assert app["scenarios"] == ["PaymentCode", "OrderCode"] and app["origin"] == "runtime"
    assert load_public_key(app["merchantPublicKey"]).key_size == 2048
    if role == "ISV":
        assert len(app["testToken"]) == 48 and app["isvCustomerId"] and app["testMerchantCustomerId"]
    listed = gateway.http.get("/_emulator/sandbox").json()
    entry = next(a for a in listed["applications"] if a["clientId"] == app["clientId"])
    assert entry["merchantPrivateKeyPem"] == app["merchantPrivateKeyPem"]
    # Every buyer has a balance in the new currency, the application's own buyer included.
    assert all("EUR" in b["balances"] for b in listed["buyers"])
    assert app["buyer"]["loginId"] in {b["loginId"] for b in listed["buyers"]}
    assert gateway.http.get(f"/_emulator/applications/{app['clientId']}").json()["name"] == "Corner shop"
    # The gateway knows it at once (the directory cache is told).
    headers = {"Agent-Token": app["testToken"]} if role == "ISV" else None
    paid = pay(gateway, app, headers=headers)
    assert paid["result"]["resultCode"] == "SUCCESS", paid
    other = pay_body(gateway.code(), request_id="PR-USD", currency="USD")
    other["paymentNotifyUrl"] = NOTIFY
    assert gateway.call("pay", other, app=app, headers=headers)["result"]["resultStatus"] == "F"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"role": "BANK"}, "role", "MERCHANT, ACQUIRER, ISV"),
        ({"name": "  "}, "name", "name"),
        ({"type": "Spaceship"}, "type", "POS terminal"),
        ({"region": "ZZ"}, "region", "ISO 3166"),
        ({"product": "CASHIER_PAYMENT"}, "product", "only IN_STORE_PAYMENT is emulated"),
        ({"scenarios": []}, "scenarios", "choose one or more"),
        ({"scenarios": ["PaymentCode", "QRPay"]}, "scenarios", "QRPay"),
        ({"testCurrency": "XYZ"}, "testCurrency", "not a currency the emulator supports"),
        ({"notificationUrl": "ftp://x"}, "notificationUrl", "http"),
    ],
)
def test_create_refusals_name_the_field(
    gateway: Gateway, changes: dict[str, Any], field: str, words: str
) -> None:
    before = count(gateway)
    response = gateway.http.post("/_emulator/applications", json={**NEW, **changes})
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}:") and words in response.json()["error"]
    assert count(gateway) == before


def test_create_missing_or_unknown_fields_are_422(gateway: Gateway) -> None:
    before = count(gateway)
    missing = {k: v for k, v in NEW.items() if k != "testCurrency"}
    response = gateway.http.post("/_emulator/applications", json=missing)
    assert response.status_code == 422 and "testCurrency" in response.text
    extra = gateway.http.post("/_emulator/applications", json={**NEW, "colour": "red"})
    assert extra.status_code == 422 and "colour" in extra.text
    assert count(gateway) == before


def test_update_and_what_cannot_change(gateway: Gateway) -> None:
    app = create(gateway)
    cid = app["clientId"]
    updated = gateway.http.patch(
        f"/_emulator/applications/{cid}",
        json={"name": "Renamed", "description": "new", "scenarios": ["EntryCode"], "notificationUrl": NOTIFY},
    ).json()
    assert updated["name"] == "Renamed" and updated["scenarios"] == ["EntryCode"]
    assert updated["notificationUrl"] == NOTIFY and updated["description"] == "new"
    for field, value in (("region", "US"), ("role", "ISV"), ("product", "X"), ("testCurrency", "USD")):
        refused = gateway.http.patch(f"/_emulator/applications/{cid}", json={field: value})
        assert refused.status_code == 422
        assert (
            refused.json()["error"].startswith(f"{field}:")
            and "create another application" in refused.json()["error"]
        )
    assert (
        gateway.http.patch(f"/_emulator/applications/{cid}", json={"notificationUrl": "nope"}).status_code
        == 422
    )
    assert gateway.http.patch(f"/_emulator/applications/{cid}", json={"name": ""}).status_code == 422
    assert gateway.http.patch(f"/_emulator/applications/{cid}", json={"type": "?"}).status_code == 422
    assert gateway.http.patch(f"/_emulator/applications/{cid}", json={"scenarios": []}).status_code == 422
    assert gateway.http.get(f"/_emulator/applications/{cid}").json()["name"] == "Renamed"
    # Seeded applications can be updated too (a notification URL is configuration).
    seeded = gateway.app(0)["clientId"]
    assert (
        gateway.http.patch(f"/_emulator/applications/{seeded}", json={"notificationUrl": NOTIFY}).status_code
        == 200
    )


def test_unknown_client_id_is_404_everywhere(gateway: Gateway) -> None:
    base = "/_emulator/applications/SANDBOX_NOPE"
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"name": "x"}),
        ("DELETE", base, None),
        ("PUT", f"{base}/public-key", {"publicKey": "x"}),
        ("PUT", f"{base}/live/public-key", {"publicKey": "x"}),
        ("POST", f"{base}/launch", {}),
        ("GET", f"{base}/launch-check", None),
        ("POST", f"{base}/live/confirm", None),
        ("POST", f"{base}/authorization-url", None),
        ("GET", f"{base}/authorizations", None),
        ("POST", f"{base}/authorizations", {"merchantAccount": "a", "password": "b"}),
        ("DELETE", f"{base}/authorizations/TOKEN", None),
    ]
    for method, path, body in calls:
        response = gateway.http.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "SANDBOX_NOPE" in response.json()["error"]


def test_delete_removes_its_data_seeded_ones_stay(gateway: Gateway) -> None:
    app = create(gateway)
    assert pay(gateway, app)["result"]["resultCode"] == "SUCCESS"
    cid = app["clientId"]
    assert gateway.http.delete(f"/_emulator/applications/{cid}").json() == {"clientId": cid, "deleted": True}
    assert gateway.http.get(f"/_emulator/applications/{cid}").status_code == 404
    sandbox = gateway.http.get("/_emulator/sandbox").json()
    assert app["buyer"]["loginId"] not in {b["loginId"] for b in sandbox["buyers"]}
    rt = gateway.http.app.state.runtime  # type: ignore[attr-defined]
    with rt.db.read() as session:
        assert session.exec(select(Payment).where(Payment.client_id == cid)).all() == []
    again = pay(gateway, app, request_id="PR-2")
    assert again["result"]["resultCode"] == "CLIENT_INVALID"
    seeded = gateway.http.delete(f"/_emulator/applications/{gateway.app(0)['clientId']}")
    assert seeded.status_code == 409 and "sandbox.toml" in seeded.json()["error"]


def test_reset_keeps_runtime_applications_and_wipes_their_payments(gateway: Gateway) -> None:
    app = create(gateway, role="ISV")
    paid = pay(gateway, app, headers={"Agent-Token": app["testToken"]})
    assert gateway.http.post("/_emulator/reset").status_code == 200
    kept = gateway.http.get(f"/_emulator/applications/{app['clientId']}").json()
    assert (
        kept["merchantPrivateKeyPem"] == app["merchantPrivateKeyPem"]
        and kept["testToken"] == app["testToken"]
    )
    inquiry = gateway.call(
        "inquiryPayment", {"paymentId": paid["paymentId"]}, app=app, headers={"Agent-Token": app["testToken"]}
    )
    assert inquiry["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert (
        pay(gateway, app, request_id="PR-9", headers={"Agent-Token": app["testToken"]})["result"][
            "resultCode"
        ]
        == "SUCCESS"
    )
    # A scoped reset gives an application created at runtime its generated key back.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway.http.put(
        f"/_emulator/applications/{app['clientId']}/public-key",
        json={"publicKey": public_key_b64(other.public_key())},
    )
    gateway.http.post("/_emulator/reset", params={"clientId": app["clientId"]})
    assert (
        gateway.http.get(f"/_emulator/applications/{app['clientId']}").json()["merchantPublicKey"]
        == app["merchantPublicKey"]
    )


def test_key_upload_checks_first_and_the_resources_follow(gateway: Gateway) -> None:
    app = create(gateway)
    url = f"/_emulator/applications/{app['clientId']}/public-key"
    alipay = gateway.http.put(url, json={"publicKey": gateway.sandbox["alipayPublicKey"]})
    assert alipay.status_code == 422 and "Alipay public key" in alipay.json()["error"]
    private = gateway.http.put(url, json={"publicKey": app["merchantPrivateKeyPem"]})
    assert private.status_code == 422 and "PRIVATE key" in private.json()["error"]
    assert app["merchantPrivateKeyPem"][40:80] not in private.text
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert (
        "1024 bits"
        in gateway.http.put(url, json={"publicKey": public_key_b64(short.public_key())}).json()["error"]
    )
    assert gateway.http.put(url, json={"publicKey": "not a key at all"}).status_code == 422
    assert (
        gateway.http.put(url, json={"publicKey": app["merchantPublicKey"], "keyVersion": "v2"}).status_code
        == 422
    )
    assert (
        gateway.http.get(f"/_emulator/applications/{app['clientId']}").json()["merchantPublicKey"]
        == app["merchantPublicKey"]
    )
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = (
        mine.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    )
    ok = gateway.http.put(url, json={"publicKey": pkcs1})
    assert ok.status_code == 200 and ok.json()["publicKey"] == public_key_b64(mine.public_key())
    assert "PKCS#1" in ok.json()["notes"][0]
    # The resources no longer offer a private key that does not match the registered key.
    view = gateway.http.get(f"/_emulator/applications/{app['clientId']}").json()
    assert "merchantPrivateKeyPem" not in view and "merchantPrivateKey" not in view
    entry = next(
        a
        for a in gateway.http.get("/_emulator/sandbox").json()["applications"]
        if a["clientId"] == app["clientId"]
    )
    assert "merchantPrivateKeyPem" not in entry
    signed = {**app, "merchantPrivateKeyPem": private_key_pkcs1_pem(mine)}
    assert pay(gateway, signed)["result"]["resultCode"] == "SUCCESS"
    assert pay(gateway, app, request_id="PR-2")["result"]["resultCode"] == "INVALID_SIGNATURE"


def _verify_answer(response: Any, path: str, alipay_public_key: str) -> bool:
    header = parse_signature_header(response.headers["signature"])
    message = canonical_message(
        method="POST",
        path=path,
        client_id=response.headers["client-id"],
        time=response.headers["response-time"],
        body=response.content,
    )
    try:
        verify(message, header.signature, load_public_key(alipay_public_key))
    except SignatureMismatch:
        return False
    return True


def test_launch_gate_force_and_the_production_client_id(gateway: Gateway) -> None:
    app = create(gateway)
    cid = app["clientId"]
    rt = gateway.http.app.state.runtime  # type: ignore[attr-defined]
    missing = gateway.http.post(f"/_emulator/applications/{cid}/launch", json={})
    assert missing.status_code == 422 and missing.json()["error"].startswith("livePublicKey:")
    live_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (
        gateway.http.put(
            f"/_emulator/applications/{cid}/live/public-key", json={"publicKey": app["merchantPrivateKeyPem"]}
        ).status_code
        == 422
    )
    gateway.http.put(
        f"/_emulator/applications/{cid}/live/public-key",
        json={"publicKey": public_key_b64(live_key.public_key())},
    )
    rt.launch_checks.append(lambda client_id: ["acceptance run not passed"] if client_id == cid else [])
    reasons = gateway.http.get(f"/_emulator/applications/{cid}/launch-check").json()["reasons"]
    # The test's own check, beside the built-in acceptance gate (issue #10).
    assert "acceptance run not passed" in reasons
    assert any("no finished acceptance run" in r for r in reasons)
    refused = gateway.http.post(f"/_emulator/applications/{cid}/launch", json={"force": False})
    assert refused.status_code == 409 and "acceptance run not passed" in refused.json()["error"]
    assert gateway.http.get(f"/_emulator/applications/{cid}").json()["environment"] == "SANDBOX"
    launched = gateway.http.post(f"/_emulator/applications/{cid}/launch", json={"force": True}).json()
    assert launched["status"] == "LAUNCHED_WITHOUT_ACCEPTANCE" and launched["live"]["forced"] is True
    assert launched["live"]["forcedReasons"] == reasons
    production = launched["live"]["productionClientId"]
    assert (
        not production.startswith("SANDBOX_")
        and launched["live"]["alipayPublicKey"] != gateway.sandbox["alipayPublicKey"]
    )
    assert gateway.http.post(f"/_emulator/applications/{cid}/launch", json={"force": True}).status_code == 409
    assert gateway.http.get(f"/_emulator/applications/{production}").json()["clientId"] == cid
    live_app = {**app, "clientId": production, "merchantPrivateKeyPem": private_key_pkcs1_pem(live_key)}
    body = pay_body(gateway.code(), request_id="LIVE-1", currency="EUR")
    body["paymentNotifyUrl"] = NOTIFY
    path = "/ams/api/v1/payments/pay"
    response = gateway.post("pay", body, app=live_app, path=path)
    assert json.loads(response.content)["result"]["resultCode"] == "SUCCESS"
    assert _verify_answer(response, path, launched["live"]["alipayPublicKey"])
    assert not _verify_answer(response, path, gateway.sandbox["alipayPublicKey"])
    # Sandbox keys with the production client ID fail, as they would in production.
    mixed = gateway.call(
        "pay",
        {**body, "paymentRequestId": "LIVE-2"},
        app={**live_app, "merchantPrivateKeyPem": app["merchantPrivateKeyPem"]},
        path=path,
    )
    assert mixed["result"]["resultCode"] == "INVALID_SIGNATURE"
    # After launch, the live key and the notification URL wait for a confirmation.
    assert gateway.http.post(f"/_emulator/applications/{cid}/live/confirm").status_code == 409
    newer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway.http.put(
        f"/_emulator/applications/{cid}/live/public-key",
        json={"publicKey": public_key_b64(newer.public_key())},
    )
    pending = gateway.http.patch(f"/_emulator/applications/{cid}", json={"notificationUrl": NOTIFY}).json()
    assert pending["notificationUrl"] is None and pending["pendingConfirmation"] == {
        "publicKey": public_key_b64(newer.public_key()),
        "notificationUrl": NOTIFY,
    }
    confirmed = gateway.http.post(f"/_emulator/applications/{cid}/live/confirm").json()
    assert confirmed["notificationUrl"] == NOTIFY and confirmed["pendingConfirmation"] is None
    assert confirmed["live"]["publicKey"] == public_key_b64(newer.public_key())
    again = gateway.call("pay", {**body, "paymentRequestId": "LIVE-3"}, app=live_app, path=path)
    assert again["result"]["resultCode"] == "INVALID_SIGNATURE"


def test_isv_authorization_flow(gateway: Gateway) -> None:
    isv = create(gateway, role="ISV", testCurrency="USD")
    cid = isv["clientId"]
    merchant = gateway.app(0)
    not_yet = gateway.http.post(f"/_emulator/applications/{cid}/authorization-url")
    assert not_yet.status_code == 409 and "launch" in not_yet.json()["error"]
    merchant_url = gateway.http.post(f"/_emulator/applications/{merchant['clientId']}/authorization-url")
    assert merchant_url.status_code == 422 and merchant_url.json()["error"].startswith("role:")
    live_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway.http.put(
        f"/_emulator/applications/{cid}/live/public-key",
        json={"publicKey": public_key_b64(live_key.public_key())},
    )
    production = gateway.http.post(f"/_emulator/applications/{cid}/launch", json={"force": True}).json()[
        "live"
    ]["productionClientId"]
    url = gateway.http.post(f"/_emulator/applications/{cid}/authorization-url").json()["authorizationUrl"]
    assert url.endswith(f"/_emulator/isv/{production}/authorize")
    account = merchant["merchantAccount"]
    wrong = gateway.http.post(
        f"/_emulator/applications/{production}/authorizations",
        json={"merchantAccount": account["loginId"], "password": "wrong"},
    )
    assert wrong.status_code == 422 and wrong.json()["error"].startswith("merchantAccount:")
    issued = gateway.http.post(
        f"/_emulator/applications/{production}/authorizations",
        json={"merchantAccount": account["loginId"], "password": account["password"]},
    )
    assert issued.status_code == 201
    token = issued.json()["agentToken"]
    assert len(token) == 48 and issued.json()["merchantCustomerId"] == merchant["customerId"]
    live_app = {
        "clientId": production,
        "merchantPrivateKeyPem": private_key_pkcs1_pem(live_key),
        "testCurrency": "USD",
    }
    path = "/ams/api/v1/payments/pay"
    paid = pay(gateway, live_app, headers={"Agent-Token": token}, path=path)
    assert paid["result"]["resultCode"] == "SUCCESS"
    listed = gateway.http.get(f"/_emulator/applications/{cid}/authorizations").json()["authorizations"]
    mine = next(t for t in listed if t["agentToken"] == token)
    assert (
        mine["merchantName"] == merchant["name"] and mine["payments"] == 1 and mine["environment"] == "LIVE"
    )
    stats = gateway.http.get(f"/_emulator/applications/{cid}").json()["authorizationStatistics"]
    assert stats == {"total": 2, "active": 2, "revoked": 0, "payments": 1}
    assert gateway.http.delete(f"/_emulator/applications/{cid}/authorizations/NOPE").status_code == 404
    revoked = gateway.http.delete(f"/_emulator/applications/{cid}/authorizations/{token}").json()
    assert revoked["revokedAt"]
    denied = pay(gateway, live_app, request_id="PR-2", headers={"Agent-Token": token}, path=path)
    assert denied["result"]["resultCode"] == "ACCESS_DENIED"
    # The sandbox test-token flow keeps working beside it.
    sandbox_pay = pay(gateway, isv, request_id="PR-3", headers={"Agent-Token": isv["testToken"]})
    assert sandbox_pay["result"]["resultCode"] == "SUCCESS"


def test_developer_role_on_first_use(gateway: Gateway) -> None:
    assert gateway.http.get("/_emulator/developer").json() == {"developer": None}
    assert gateway.http.post("/_emulator/developer", json={"role": "CHEF"}).status_code == 422
    assert (
        gateway.http.post("/_emulator/developer", json={"role": "ISV"}).json()["developer"]["role"] == "ISV"
    )
    assert gateway.http.get("/_emulator/developer").json()["developer"]["role"] == "ISV"
