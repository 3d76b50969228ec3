"""The pytest plugin as users meet it: a user's venv (the SDK, the emulator, pytest) runs the
README's example tests against the emulator, and a self-started emulator serves a plain test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Live
from .support import REPO, SDK_VERSION

pytestmark = pytest.mark.e2e
USER_VENV = REPO / ".cache" / f"user-venv-{SDK_VERSION}"
pytest_plugins = ["pytester"]


def user_python() -> Path:
    """A user's environment: the official SDK (cryptography 44) beside alipay-emulator and pytest."""
    python = USER_VENV / "bin" / "python"
    marker = USER_VENV / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(USER_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                f"global-open-sdk-python=={SDK_VERSION}",
                "-e",
                str(REPO),
                "pytest",
            ],
            check=True,
            timeout=900,
        )
        marker.write_text("ok")
    return python


def test_readme_example_tests_pass_attached_to_a_running_emulator(live: Live) -> None:
    if live.process.tls_port != 443:
        pytest.skip("the example drives the Python SDK, which needs HTTPS on port 443")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
    env["ALIPAY_EMULATOR_URL"] = live.process.http_url
    out = subprocess.run(
        [
            str(user_python()),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(REPO / "examples" / "pytest"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO / "examples" / "pytest",
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "3 passed" in out.stdout


def test_plugin_starts_its_own_emulator(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALIPAY_EMULATOR_URL", raising=False)
    monkeypatch.setenv("ALIPAY_EMULATOR_PLUGIN_TLS_PORT", "0")
    pytester.makepyfile(
        """
        def test_wallet_pays_an_order_code(alipay_emulator, alipay_sandbox):
            assert alipay_emulator.control.health()["status"] == "ok"
            app = alipay_sandbox.app()
            assert app["role"] == "MERCHANT"
            code = alipay_sandbox.payment_code()
            assert len(code) == 18
            alipay_sandbox.control.advance_clock(seconds=5)

        def test_each_test_starts_from_the_seed(alipay_emulator, alipay_sandbox):
            assert alipay_sandbox.control.clock()["offsetSeconds"] == 0
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
