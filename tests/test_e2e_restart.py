"""A restart keeps state; SIGTERM drains and exits 0; the SDK still verifies afterwards."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from emulator.testing import EmulatorClient

from .conftest import pay_body
from .support import EmulatorProcess, signed_post

pytestmark = pytest.mark.e2e


def test_state_and_clock_survive_a_restart(tmp_path: Path) -> None:
    proc = EmulatorProcess(tmp_path / "data", tls_port=0).start()
    try:
        control = EmulatorClient(proc.http_url)
        sandbox = control.sandbox()
        app = sandbox["applications"][0]
        code = control.payment_code(sandbox["buyers"][0]["loginId"])
        paid = signed_post(proc.http_url, app, "pay", pay_body(code, request_id="KEEP"))
        assert paid["result"]["resultCode"] == "SUCCESS"
        control.advance_clock(seconds=3600)
        offset = control.clock()["offsetSeconds"]
        control.close()
    finally:
        assert proc.stop() == 0
    proc2 = EmulatorProcess(tmp_path / "data", tls_port=0)
    proc2.port = proc.port  # the same address, as a restarted service would have
    proc2.start()
    try:
        with EmulatorClient(proc2.http_url) as control:
            again = control.sandbox()
            assert again["applications"] == sandbox["applications"]
            assert again["alipayPublicKey"] == sandbox["alipayPublicKey"]
            assert control.clock()["offsetSeconds"] >= offset
            inquiry = signed_post(proc2.http_url, app, "inquiryPayment", {"paymentRequestId": "KEEP"})
            assert inquiry["paymentStatus"] == "SUCCESS"
            assert inquiry["paymentId"] == paid["paymentId"]
            # The code was used before the restart: it stays used.
            again_paid = signed_post(proc2.http_url, app, "pay", pay_body(code, request_id="OTHER"))
            assert again_paid["result"]["resultCode"] == "INVALID_PAYMENT_CODE"
    finally:
        assert proc2.stop() == 0


def test_two_fresh_starts_give_identical_sandboxes(tmp_path: Path) -> None:
    seen = []
    for name in ("a", "b"):
        proc = EmulatorProcess(tmp_path / name, tls_port=0).start()
        try:
            seen.append(httpx.get(f"{proc.http_url}/_emulator/sandbox").json())
        finally:
            assert proc.stop() == 0
    # Only the addresses differ (each process has its own ports).
    for s in seen:
        del s["gateway"]
        for app in s["applications"]:
            app.pop("authorizationUrl", None)
    assert seen[0] == seen[1]


def test_a_notification_retry_survives_a_restart(tmp_path: Path) -> None:
    from emulator.testing import NotificationReceiver

    with NotificationReceiver() as receiver:
        receiver.script = [(500, {"error": "merchant down"})]
        proc = EmulatorProcess(tmp_path / "data", tls_port=0).start()
        try:
            with EmulatorClient(proc.http_url) as control:
                control.freeze_clock()
                sandbox = control.sandbox()
                app = sandbox["applications"][0]
                code = control.payment_code(sandbox["buyers"][0]["loginId"])
                body = pay_body(code, request_id="NOTE") | {"paymentNotifyUrl": receiver.url}
                paid = signed_post(proc.http_url, app, "pay", body)
                receiver.wait_for(1)
        finally:
            assert proc.stop() == 0
        again = EmulatorProcess(tmp_path / "data", tls_port=0)
        again.port = proc.port
        again.start()
        try:
            with EmulatorClient(again.http_url) as control:
                control.advance_clock(seconds=120)
                notes = receiver.wait_for(2)
                [record] = control.notifications(payment_id=paid["paymentId"])
        finally:
            assert again.stop() == 0
    assert notes[0].body == notes[1].body
    assert record["status"] == "DELIVERED"
    assert [a["httpStatus"] for a in record["attempts"]] == [500, 200]
