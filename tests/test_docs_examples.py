"""The README's examples, run as written."""

from __future__ import annotations

import os
import subprocess

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
