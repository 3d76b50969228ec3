"""``alipay-emulator acceptance start|status|finish`` against a running emulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulator.cli import main

from ..conftest import Live, pay_body
from ..support import signed_post

pytestmark = pytest.mark.e2e


def test_cli_exit_code_follows_the_required_cases(
    emu: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = emu.app()
    url = emu.process.http_url
    base = ["acceptance", "--client-id", app["clientId"], "--url", url]
    assert main(["acceptance", "start", *base[1:], "--cases", "SPOT-001,SPOT-002"]) == 0
    opened = capsys.readouterr().out
    assert "SPOT-001" in opened and "waiting" in opened and "start it:" in opened
    assert main(["acceptance", "status", *base[1:]]) == 1  # SPOT-001 (required) still waiting
    body = pay_body(emu.control.payment_code(emu.buyer()["loginId"]), request_id="CLI-1")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    assert signed_post(url, app, "pay", body)["result"]["resultCode"] == "SUCCESS"
    junit = tmp_path / "acceptance.xml"
    assert main(["acceptance", "finish", *base[1:], "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "SPOT-001    passed" in out and "SPOT-002    failed" in out and "every required case passed" in out
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    # A run whose required case fails: exit 1, and the reason is printed.
    assert main(["acceptance", "start", *base[1:], "--cases", "SPOT-005"]) == 0
    assert main(["acceptance", "finish", *base[1:]]) == 1
    assert "never started" in capsys.readouterr().out


def test_cli_errors_exit_2(emu: Live, capsys: pytest.CaptureFixture[str]) -> None:
    url = emu.process.http_url
    assert main(["acceptance", "status", "--client-id", "NOPE", "--url", url]) == 2
    assert main(["acceptance", "start", "--client-id", "NOPE", "--url", url]) == 2
    assert "NOPE" in capsys.readouterr().err
    assert main(["acceptance", "status", "--client-id", "X", "--url", "http://127.0.0.1:9"]) == 2
