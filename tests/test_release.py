"""Release hygiene: the sdist and wheel build, and the wheel alone runs in a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

import emulator
from emulator.testing import EmulatorServer

from .support import REPO

pytestmark = pytest.mark.e2e


def test_wheel_installs_and_serves_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "warning" not in (built.stdout + built.stderr).lower(), built.stdout + built.stderr
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    assert wheel.name.startswith(f"alipay_emulator-{emulator.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "emulator/_fixtures/sandbox.toml" in names
    assert any(n.startswith("emulator/_fixtures/keys/TEST-ONLY-") for n in names)
    assert any("entry_points.txt" in n for n in names)
    assert "emulator/py.typed" in names
    [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(metadata_name).decode()
    assert "Description-Content-Type: text/markdown" in metadata
    assert "# alipay-emulator" in metadata  # the README is the long description
    assert metadata.count("Classifier: ") >= 10
    assert "Requires-Dist: faker<41,>=40" in metadata
    with tarfile.open(sdist) as tar:
        assert any(n.endswith("fixtures/sandbox.toml") for n in tar.getnames())

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=900)
    version = subprocess.run(
        [str(venv / "bin" / "alipay-emulator"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert emulator.__version__ in version.stdout
    server = EmulatorServer(tmp_path / "data", tls_port=0, python=str(venv / "bin" / "python"))
    server.start()
    try:
        assert httpx.get(f"{server.http_url}/_emulator/health").json()["status"] == "ok"
        assert len(httpx.get(f"{server.http_url}/_emulator/sandbox").json()["applications"]) >= 4
    finally:
        assert server.stop() == 0


def test_make_wheel_and_the_install_hint() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "\nwheel: " in makefile and "-m build" in makefile
    hint = (REPO / "examples" / "pytest" / "test_checkout.py").read_text()
    assert "pip install alipay-emulator " not in hint  # not on any index
    assert "make wheel" in hint
