"""Each control, end to end, with the official SDK on the gateway side."""

from __future__ import annotations

import time

import pytest

from .conftest import Live

pytestmark = pytest.mark.e2e


def _pay(emu: Live, request_id: str, *, amount: int = 100, **extra: object) -> dict[str, object]:
    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    return emu.sdk.call(
        "pay_code",
        emu.client(app),
        paymentRequestId=request_id,
        currency=app["testCurrency"],
        amount=amount,
        paymentCode=code,
        **extra,
    )


def test_forced_result_reaches_the_sdk_signed(emu: Live) -> None:
    emu.control.add_scenario("pay", "USER_BALANCE_NOT_ENOUGH", count=1)
    out = _pay(emu, "S-1")
    assert out["ok"] and out["body"]["result"]["resultCode"] == "USER_BALANCE_NOT_ENOUGH"  # type: ignore[index]
    out = _pay(emu, "S-1")
    assert out["ok"] and out["body"]["result"]["resultCode"] == "SUCCESS"  # type: ignore[index]


def test_scenario_header_through_the_sdk(emu: Live) -> None:
    out = _pay(emu, "H-1", extraHeaders={"X-Emulator-Scenario": "resultCode=SYSTEM_ERROR"})
    assert out["ok"] and out["body"]["result"]["resultCode"] == "SYSTEM_ERROR"  # type: ignore[index]


def test_injected_503_makes_the_sdk_raise(emu: Live) -> None:
    emu.control.add_fault("pay", "http_status", status=503)
    out = _pay(emu, "F-503")
    assert not out["ok"] and "invalid http status 503" in str(out["error"])
    app = emu.app()
    assert (
        emu.sdk.body("inquiry", emu.client(app), paymentRequestId="F-503")["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )


def test_drop_after_commit_the_sdk_raises_but_the_payment_happened(emu: Live) -> None:
    emu.control.add_fault("pay", "drop_after_commit")
    started = time.monotonic()
    out = _pay(emu, "F-DROP")
    assert not out["ok"]
    assert time.monotonic() - started < 10
    app = emu.app()
    client = emu.client(app)
    assert emu.sdk.body("inquiry", client, paymentRequestId="F-DROP")["paymentStatus"] == "SUCCESS"
    # The POS recovers the documented way: cancel.
    assert emu.sdk.body("cancel", client, paymentRequestId="F-DROP")["result"]["resultCode"] == "SUCCESS"


def test_latency_fault_delays_the_answer(emu: Live) -> None:
    emu.control.add_fault("inquiryPayment", "latency", ms=1200)
    app = emu.app()
    started = time.monotonic()
    body = emu.sdk.body("inquiry", emu.client(app), paymentRequestId="none")
    assert body["result"]["resultCode"] == "ORDER_NOT_EXIST"
    assert time.monotonic() - started >= 1.2


def test_no_response_holds_past_the_sdk_timeout_without_processing(emu: Live) -> None:
    emu.control.add_fault("pay", "no_response")
    out = _pay(emu, "F-HOLD")
    assert not out["ok"]
    app = emu.app()
    assert (
        emu.sdk.body("inquiry", emu.client(app), paymentRequestId="F-HOLD")["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )


def test_clock_expires_a_payment_code(emu: Live) -> None:
    app = emu.app()
    code = emu.control.payment_code(emu.buyer()["loginId"])
    emu.control.advance_clock(seconds=61)
    body = emu.sdk.body(
        "pay_code",
        emu.client(app),
        paymentRequestId="EXP",
        currency=app["testCurrency"],
        amount=100,
        paymentCode=code,
    )
    assert body["result"]["resultCode"] == "EXPIRED_CODE"


def test_scoped_reset_keeps_the_other_application(emu: Live) -> None:
    usd, jpy = emu.app(index=0), emu.app(index=1)
    for app, rid in ((usd, "KEEP-U"), (jpy, "DROP-J")):
        code = emu.control.payment_code(emu.buyer()["loginId"])
        emu.sdk.body(
            "pay_code",
            emu.client(app),
            paymentRequestId=rid,
            currency=app["testCurrency"],
            amount=100,
            paymentCode=code,
        )
    emu.control.reset(client_id=jpy["clientId"])
    assert emu.sdk.body("inquiry", emu.client(usd), paymentRequestId="KEEP-U")["paymentStatus"] == "SUCCESS"
    assert (
        emu.sdk.body("inquiry", emu.client(jpy), paymentRequestId="DROP-J")["result"]["resultCode"]
        == "ORDER_NOT_EXIST"
    )


def test_admin_token_is_enforced(tmp_path: object) -> None:
    from pathlib import Path

    import httpx

    from emulator.testing import ControlApiError, EmulatorClient

    from .support import EmulatorProcess

    proc = EmulatorProcess(
        Path(str(tmp_path)) / "data", tls_port=0, env={"ALIPAY_EMULATOR_ADMIN_TOKEN": "t0ken"}
    ).start()
    try:
        assert httpx.get(f"{proc.http_url}/_emulator/sandbox").status_code == 401
        with EmulatorClient(proc.http_url) as anonymous, pytest.raises(ControlApiError):
            anonymous.sandbox()
        with EmulatorClient(proc.http_url, admin_token="t0ken") as ok:
            assert ok.sandbox()["applications"]
        assert httpx.get(f"{proc.http_url}/_emulator/ca.pem").status_code == 404  # TLS disabled here
    finally:
        assert proc.stop() == 0
