"""At info, one log line per gateway call and per notification attempt (#14 item 5)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from emulator.logs import JsonFormatter
from emulator.notifications.http import Answer

from .conftest import Gateway, pay_body


def lines(caplog: pytest.LogCaptureFixture, prefix: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "emulator" and r.getMessage().startswith(prefix)]


def test_one_line_per_gateway_call_with_the_refusal_reason(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emulator")
    app = gateway.app()
    gateway.call("pay", pay_body(gateway.code(), request_id="log-1"))
    gateway.call("inquiryPayment", {"paymentRequestId": "log-1"}, key_version="9")
    [paid, refused] = lines(caplog, "gateway ")
    assert paid.getMessage().startswith(f"gateway {app['clientId']} pay SUCCESS ")
    assert paid.getMessage().endswith(" ms")
    text = refused.getMessage()
    assert text.startswith(f"gateway {app['clientId']} inquiryPayment KEY_NOT_FOUND ")
    assert ": " in text and "\n" not in text  # the one-line reason
    record: Any = refused
    assert record.resultCode == "KEY_NOT_FOUND" and record.latencyMs >= 0 and record.reason
    out = json.loads(JsonFormatter().format(refused))
    assert out["clientId"] == app["clientId"] and out["api"] == "inquiryPayment"


def test_one_line_per_notification_attempt(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="emulator")
    rt: Any = gateway.http.app.state.runtime  # type: ignore[attr-defined]
    rt.notifier.post = lambda url, body, headers: Answer(500, "")
    body = pay_body(gateway.code(), request_id="log-2")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    gateway.call("pay", body)
    rt.run_due()
    [attempt] = lines(caplog, "notify ")
    assert attempt.getMessage().startswith(
        f"notify {gateway.app()['clientId']} PAYMENT_RESULT http://127.0.0.1:9/notify attempt 1: HTTP 500"
    )
