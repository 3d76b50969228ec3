"""The README's examples, run as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import Live
from .support import REPO, ensure_sdk_venv

pytestmark = pytest.mark.e2e


def test_quickstart_runs_as_written(emu: Live) -> None:
    if emu.process.tls_port != 443:
        pytest.skip("the quickstart needs the emulator's HTTPS on port 443")
    env = dict(
        os.environ,
        SSL_CERT_FILE=str(emu.process.ca_file),
        EMULATOR_CONTROL_URL=emu.process.http_url,
    )
    out = subprocess.run(
        [str(ensure_sdk_venv()), str(REPO / "examples" / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "pay: SUCCESS" in out.stdout
    assert "inquiryPayment: SUCCESS" in out.stdout


def readme_block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_error_handling_section_runs_as_written(emu: Live, tmp_path: Path) -> None:
    if emu.process.tls_port != 443:
        pytest.skip("the section drives the Python SDK, which needs HTTPS on port 443")
    from .test_pytest_plugin import user_python

    script = tmp_path / "error_handling.py"
    script.write_text(
        readme_block("Testing your error handling").replace("http://localhost:8080", emu.process.http_url)
    )
    env = dict(os.environ, SSL_CERT_FILE=str(emu.process.ca_file))
    out = subprocess.run(
        [str(user_python()), str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "/ams/sandbox/api/v1/payments/pay" in out.stdout


# Like tests/sdk/driver.py: when the emulator could not have 443, only the SDK's port is patched.
_PORT_SHIM = """
import http.client
from com.alipay.ams.api.net import default_http_rpc
class _Patched(http.client.HTTPSConnection):
    def __init__(self, host, port=None, **kw):
        super().__init__(host, port={port}, **kw)
class _Shim:
    HTTPSConnection = _Patched
default_http_rpc.http_client = _Shim
"""


def test_merchant_registration_section_runs_as_written(emu: Live, tmp_path: Path) -> None:
    block = readme_block("Merchant registration").replace("http://localhost:8080", emu.process.http_url)
    if emu.process.tls_port != 443:
        block = _PORT_SHIM.format(port=emu.process.tls_port) + block
    script = tmp_path / "registration.py"
    script.write_text(block)
    env = dict(os.environ, SSL_CERT_FILE=str(emu.process.ca_file))
    out = subprocess.run(
        [str(ensure_sdk_venv()), str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.splitlines() == ["registration: SUCCESS", "status: PENDING", "status: APPROVED"]
