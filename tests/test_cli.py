"""The CLI against a running emulator (``--url`` / ALIPAY_EMULATOR_URL) and ``wait``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.cli import build_parser, main
from emulator.testing import EmulatorClient, EmulatorServer, free_port

TOKEN = "cli-test-admin-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    process = EmulatorServer(
        tmp_path_factory.mktemp("cli") / "data", env={"ALIPAY_EMULATOR_ADMIN_TOKEN": TOKEN}
    ).start()
    try:
        yield process
    finally:
        assert process.stop() == 0


def test_sandbox_payment_code_and_reconcile_talk_to_the_running_emulator(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIPAY_EMULATOR_ADMIN_TOKEN", TOKEN)
    assert main(["sandbox", "--url", server.http_url]) == 0
    printed = json.loads(capsys.readouterr().out)
    with EmulatorClient(server.http_url, admin_token=TOKEN) as control:
        served = control.sandbox()
    # What the server advertises, not what this process would derive from its own settings.
    assert printed["gateway"] == served["gateway"]
    assert printed["gateway"]["https"].endswith(f":{server.tls_port}")

    login = served["buyers"][0]["loginId"]
    assert main(["payment-code", "--url", server.http_url, "--buyer", login]) == 0
    code = json.loads(capsys.readouterr().out)
    assert len(code["paymentCode"]) == 18 and code["expiresAt"]

    monkeypatch.setenv("ALIPAY_EMULATOR_URL", server.http_url)
    assert main(["reconcile", "--date", "2090-03-14"]) == 0
    assert json.loads(capsys.readouterr().out)["date"] == "2090-03-14"
    assert main(["payment-code", "--buyer", "nobody"]) == 1
    assert "nobody" in capsys.readouterr().err


def test_a_missing_admin_token_is_named(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALIPAY_EMULATOR_ADMIN_TOKEN", raising=False)
    assert main(["sandbox", "--url", server.http_url]) == 1
    err = capsys.readouterr().err
    assert "401" in err and "ALIPAY_EMULATOR_ADMIN_TOKEN" in err
    assert main(["sandbox", "--url", server.http_url, "--admin-token", TOKEN]) == 0


def test_an_unreachable_emulator_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--url", f"http://127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alipay-emulator: cannot reach") and "\n" not in err


def test_wait(server: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wait", "--url", server.http_url, "--timeout", "5"]) == 0
    assert main(["wait", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "0.3"]) == 1
    assert "not healthy" in capsys.readouterr().err


def test_help_names_the_mode_and_serve_only_options_are_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in ("sandbox", "payment-code", "reconcile"):
        text = sub[command].format_help()
        assert "--url" in text and "ALIPAY_EMULATOR_URL" in text and "data directory" in text
        assert "--tls-port" not in text and "--log-level" not in text and "--host" not in text
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "--tls-port", "0", "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
