"""The request pipeline: error precedence, signed answers, diagnoses, bad input (spec §8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings
from emulator.signing import canonical_message, load_public_key, parse_signature_header, verify

from ..conftest import Gateway, pay_body

INQUIRY = "/ams/sandbox/api/v1/payments/inquiryPayment"


def assert_signed(gw: Gateway, response: Any, path: str) -> None:
    """Verify the answer exactly as the SDKs do (lower-case names, client-id echoed)."""
    headers = response.headers
    assert response.status_code == 200
    sig = parse_signature_header(headers["signature"])
    assert headers["signature"].startswith("algorithm=RSA256,keyVersion=1,signature=")
    message = canonical_message(
        method="POST",
        path=path,
        client_id=headers["client-id"],
        time=headers["response-time"],
        body=response.content,
    )
    verify(message, sig.signature, load_public_key(gw.sandbox["alipayPublicKey"]))
    # The PHP SDK scans every header line for these words (Appendix D).
    for name, value in headers.items():
        if name not in ("signature", "response-time"):
            assert "signature" not in f"{name}{value}".lower()
            assert "response-time" not in f"{name}{value}".lower()


def result(response: Any) -> dict[str, str]:
    data: dict[str, str] = response.json()["result"]
    return data


def test_a_good_call_is_answered_signed(gateway: Gateway) -> None:
    response = gateway.post("inquiryPayment", {"paymentRequestId": "nope"})
    assert_signed(gateway, response, INQUIRY)
    assert result(response)["resultCode"] == "ORDER_NOT_EXIST"
    assert response.headers["client-id"] == gateway.app()["clientId"]
    assert response.headers["content-type"] == "application/json; charset=UTF-8"


def test_production_and_sandbox_paths_behave_the_same(gateway: Gateway) -> None:
    for path in ("/ams/api/v1/payments/inquiryPayment", INQUIRY):
        response = gateway.post("inquiryPayment", {"paymentRequestId": "x"}, path=path)
        assert_signed(gateway, response, path)
        assert result(response)["resultCode"] == "ORDER_NOT_EXIST"


def test_absolute_form_request_target_is_split() -> None:
    # What the Python SDK sends: POST https://host/ams/... HTTP/1.1 (spec §8 item 2). h11 hands
    # such a target over whole; the wrapper splits it (the SDK end-to-end tests cover httptools).
    import asyncio

    from emulator.app import GatewayDispatch

    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(path=scope["path"], query=scope["query_string"])

    scope = {"type": "http", "path": "https://localhost/_emulator/health?a=1", "query_string": b""}
    asyncio.run(GatewayDispatch(inner)(scope, None, None))  # type: ignore[arg-type]
    assert seen == {"path": "/_emulator/health", "query": b"a=1"}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"path": "/ams/api/v1/payments/nope"}, "NO_INTERFACE_DEF"),
        ({"headers": {"Content-Type": "text/plain"}}, "MEDIA_TYPE_NOT_ACCEPTABLE"),
        ({"headers": {"client-id": "SANDBOX_UNKNOWN"}}, "CLIENT_INVALID"),
        ({"key_version": "7"}, "KEY_NOT_FOUND"),
        ({"sign_path": "/ams/api/v1/payments/inquiryPayment"}, "INVALID_SIGNATURE"),
        ({"headers": {"Request-Time": "2026-11-26T04:22:20+00:00"}}, "INVALID_SIGNATURE"),
        (
            {"headers": {"Signature": "algorithm=RSA256,keyVersion=1,signature="}},
            "INVALID_SIGNATURE",
        ),
        ({"headers": {"Signature": None}}, "PARAM_ILLEGAL"),
        ({"headers": {"Request-Time": None}}, "PARAM_ILLEGAL"),
        ({"headers": {"Agent-Token": "x" * 48}}, "ACCESS_DENIED"),
    ],
    ids=[
        "route",
        "media-type",
        "client",
        "key",
        "sig-path",
        "sig-time",
        "sig-empty",
        "sig-missing",
        "time-missing",
        "agent-token-on-merchant",
    ],
)
def test_each_check_answers_its_code_signed(
    signing_gateway: Gateway, kwargs: dict[str, Any], code: str
) -> None:
    """With ALIPAY_EMULATOR_UNSIGNED_AUTH_ERRORS=false every refusal is signed, auth ones too."""
    gateway = signing_gateway
    response = gateway.post("inquiryPayment", {"paymentRequestId": "x"}, **kwargs)
    assert result(response)["resultCode"] == code
    assert result(response)["resultStatus"] == "F"
    path = kwargs.get("path", INQUIRY)
    assert_signed(gateway, response, path)
    assert "x-emulator-diagnosis" in response.headers


@pytest.fixture
def signing_gateway(settings: Settings) -> Any:
    with TestClient(create_app(settings.model_copy(update={"unsigned_auth_errors": False}))) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"headers": {"client-id": "SANDBOX_UNKNOWN"}}, "CLIENT_INVALID"),
        ({"key_version": "7"}, "KEY_NOT_FOUND"),
        ({"sign_path": "/ams/api/v1/payments/inquiryPayment"}, "INVALID_SIGNATURE"),
    ],
    ids=["client", "key", "signature"],
)
def test_auth_errors_are_unsigned_by_default(gateway: Gateway, kwargs: dict[str, Any], code: str) -> None:
    """Issue #12 item 3: production answers these without signature/response-time headers."""
    response = gateway.post("inquiryPayment", {"paymentRequestId": "x"}, **kwargs)
    assert response.status_code == 200
    assert result(response)["resultCode"] == code
    assert "signature" not in response.headers
    assert "response-time" not in response.headers
    # The refusal is still explained: diagnosis header and journal.
    assert "check:" in response.headers["x-emulator-diagnosis"]
    entry = gateway.http.get("/_emulator/requests", params={"resultCode": code}).json()["requests"][0]
    assert entry["diagnosis"]["message"]
    assert entry["signing"].startswith("unsigned")
    # Everything else stays signed.
    assert_signed(gateway, gateway.post("inquiryPayment", {"paymentRequestId": "x"}), INQUIRY)


def test_non_post_is_method_not_supported(gateway: Gateway) -> None:
    response = gateway.http.get(INQUIRY, headers={"client-id": gateway.app()["clientId"]})
    assert response.status_code == 200
    assert result(response)["resultCode"] == "METHOD_NOT_SUPPORTED"


def test_tampered_body_is_invalid_signature_and_journal_explains(gateway: Gateway) -> None:
    raw = json.dumps({"paymentRequestId": "x"}, indent=3).encode()
    good = gateway.post("inquiryPayment", raw)
    assert result(good)["resultCode"] == "ORDER_NOT_EXIST"
    # Sign one body, send another with a single changed byte.
    app = gateway.app()
    from emulator.signing import load_private_key, sign, signature_header

    message = canonical_message(method="POST", path=INQUIRY, client_id=app["clientId"], time="t", body=raw)
    tampered = raw.replace(b'"x"', b'"y"')
    response = gateway.http.post(
        INQUIRY,
        content=tampered,
        headers={
            "client-id": app["clientId"],
            "request-time": "t",
            "content-type": "application/json",
            "signature": signature_header(sign(message, load_private_key(app["merchantPrivateKeyPem"]))),
        },
    )
    assert result(response)["resultCode"] == "INVALID_SIGNATURE"
    entry = gateway.http.get("/_emulator/requests", params={"resultCode": "INVALID_SIGNATURE"}).json()[
        "requests"
    ][0]
    assert entry["diagnosis"]["verifiedString"] == (message.decode().replace('"x"', '"y"'))
    assert entry["diagnosis"]["keyVersion"] == "1"
    assert entry["diagnosis"]["differs"]


def test_signing_over_the_other_path_is_named(gateway: Gateway) -> None:
    gateway.post("inquiryPayment", {"paymentRequestId": "x"}, sign_path="/ams/api/v1/payments/inquiryPayment")
    entry = gateway.http.get("/_emulator/requests").json()["requests"][0]
    assert entry["diagnosis"]["differs"].startswith("path:")


def test_unsigned_auth_errors_setting_false_signs_them(signing_gateway: Gateway) -> None:
    bad = signing_gateway.post("inquiryPayment", {"paymentRequestId": "x"}, sign_path="/other")
    assert result(bad)["resultCode"] == "INVALID_SIGNATURE"
    assert_signed(signing_gateway, bad, INQUIRY)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"\xff\xfe{}", "body"),
        (b"[1, 2]", "body"),
        (b"[" * 100_000 + b"]" * 100_000, "body"),
        (json.dumps({"paymentRequestId": {"a": 1}}).encode(), "paymentRequestId"),
        (json.dumps({"paymentRequestId": "x" * 65}).encode(), "paymentRequestId"),
        (json.dumps({}).encode(), "body"),
    ],
    ids=["malformed", "bad-utf8", "not-object", "deep-nesting", "wrong-type", "too-long", "no-id"],
)
def test_bad_bodies_are_param_illegal(gateway: Gateway, raw: bytes, field: str) -> None:
    response = gateway.post("inquiryPayment", raw)
    assert response.status_code == 200
    res = result(response)
    assert res["resultCode"] == "PARAM_ILLEGAL", res
    assert field in res["resultMessage"] or "paymentRequestId or paymentId" in res["resultMessage"]
    assert_signed(gateway, response, INQUIRY)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("productCode"), "productCode"),
        (lambda b: b.__setitem__("productCode", "CASHIER_PAYMENT"), "productCode"),
        (lambda b: b["paymentAmount"].__setitem__("value", "-5"), "paymentAmount.value"),
        (lambda b: b["paymentAmount"].__setitem__("value", "12.5"), "paymentAmount.value"),
        (lambda b: b["paymentAmount"].__setitem__("currency", "usd"), "paymentAmount.currency"),
        (lambda b: b["order"]["merchant"].pop("merchantMCC"), "order.merchant.merchantMCC"),
        (
            lambda b: b["order"]["merchant"]["store"].pop("referenceStoreId"),
            "order.merchant.store.referenceStoreId",
        ),
        (lambda b: b["paymentMethod"].pop("paymentMethodId"), "paymentMethod.paymentMethodId"),
        (
            lambda b: b["paymentFactor"].__setitem__("inStorePaymentScenario", "Nope"),
            "paymentFactor.inStorePaymentScenario",
        ),
        (lambda b: b.__setitem__("paymentNotifyUrl", "ftp://x"), "paymentNotifyUrl"),
    ],
)
def test_pay_validation_names_the_field_and_stores_nothing(gateway: Gateway, mutate: Any, field: str) -> None:
    body = pay_body(gateway.code())
    mutate(body)
    res = gateway.call("pay", body)["result"]
    assert res["resultCode"] == "PARAM_ILLEGAL"
    assert field in res["resultMessage"]
    inquiry = gateway.call("inquiryPayment", {"paymentRequestId": body["paymentRequestId"]})
    assert inquiry["result"]["resultCode"] == "ORDER_NOT_EXIST"


def test_numbers_are_read_as_strings(gateway: Gateway) -> None:
    body = pay_body(gateway.code())
    body["paymentRequestId"] = 1234567
    body["paymentAmount"]["value"] = 1000
    body["order"]["orderAmount"]["value"] = 1000
    assert gateway.call("pay", body)["result"]["resultCode"] == "SUCCESS"
    assert gateway.call("inquiryPayment", {"paymentRequestId": "1234567"})["paymentStatus"] == "SUCCESS"


def test_oversized_body_is_413_and_the_server_keeps_answering(gateway: Gateway) -> None:
    response = gateway.post("inquiryPayment", b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert response.status_code == 413
    assert result(response)["resultCode"] == "PARAM_ILLEGAL"
    assert (
        result(gateway.post("inquiryPayment", {"paymentRequestId": "x"}))["resultCode"] == "ORDER_NOT_EXIST"
    )


def test_junk_headers_are_refused_cleanly(gateway: Gateway) -> None:
    app = gateway.app()
    for headers in (
        {},
        {"client-id": app["clientId"]},
        {"client-id": app["clientId"], "request-time": "x", "signature": "garbage"},
        {
            "client-id": app["clientId"],
            "request-time": "x",
            "signature": "algorithm=RSA256,keyVersion=abc,signature=%ZZ",
        },
        {"client-id": "%%\\x00;drop", "request-time": "x", "signature": "x"},
    ):
        response = gateway.http.post(
            INQUIRY, content=b"{}", headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 200
        assert result(response)["resultStatus"] == "F"
