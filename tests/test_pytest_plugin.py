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


def test_plugin_says_why_when_the_sdk_port_is_taken(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """443 held by another process: a message at the start, in the summary, in the error."""
    import socket

    monkeypatch.delenv("ALIPAY_EMULATOR_URL", raising=False)
    monkeypatch.delenv("ALIPAY_EMULATOR_PLUGIN_TLS_PORT", raising=False)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        # Stand-in for 443, which the suite cannot take from whoever holds it.
        pytester.makeconftest(f"import emulator.pytest_plugin as p\np.SDK_PORT = {port}\n")
        pytester.makepyfile(
            """
            def test_pays(alipay_emulator):
                raise AssertionError("never reached")

            def test_needs_nothing():
                pass
            """
        )
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    text = result.stdout.str()
    message = f"the Python SDK always connects to port {port}, and port {port} is held by another process"
    assert text.count(message) >= 3  # session start, the test's error, the summary
    assert text.index(message) < text.index("ERROR")
    assert "ALIPAY_EMULATOR_URL" in text and "ip_unprivileged_port_start" in text
    assert "CERTIFICATE_VERIFY_FAILED" not in text


def test_bind_errors_are_explained() -> None:
    import errno

    from emulator.pytest_plugin import explain_bind_error

    denied = explain_bind_error(443, errno.EACCES)
    assert "may not bind port 443" in denied and "run the tests as root" in denied
    assert "held by another process" in explain_bind_error(443, errno.EADDRINUSE)
