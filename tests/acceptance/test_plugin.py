"""The pytest plugin's ``alipay_acceptance`` fixture: a run for the session, its JUnit at the end."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ..conftest import Live
from ..support import REPO

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

EXAMPLE = REPO / "examples" / "acceptance" / "test_acceptance_run.py"


def test_acceptance_fixture_opens_a_run_and_writes_junit(
    pytester: pytest.Pytester, emu: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_acceptance_run=EXAMPLE.read_text())
    monkeypatch.setenv("ALIPAY_EMULATOR_URL", emu.process.http_url)
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "--alipay-acceptance-junit", "out.xml"
    )
    result.assert_outcomes(passed=3)
    suite = ET.parse(pytester.path / "out.xml").getroot()
    names = {t.get("name", "").split()[0]: t for t in suite.findall("testcase")}
    assert names["SPOT-001"].find("failure") is None and names["SPOT-005"].find("failure") is None
    failure = names["SPOT-003"].find("failure")
    assert failure is not None and "never started" in (failure.get("message") or "")
    runs = emu.control.acceptance_runs(emu.app()["clientId"])
    assert runs[0]["status"] == "finished"
