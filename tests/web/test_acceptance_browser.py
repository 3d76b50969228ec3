"""The acceptance run page in real Chromium: open a run, Start a case, watch its grade, finish."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from emulator.testing import EmulatorClient, EmulatorServer

from ..conftest import pay_body
from ..support import signed_post


def test_run_page_starts_cases_and_shows_grades(page: Any, tmp_path: Path) -> None:
    server = EmulatorServer(tmp_path / "data", tls_port=0)
    server.start()
    try:
        with EmulatorClient(server.http_url) as control:
            sandbox = control.sandbox()
        app = sandbox["applications"][0]
        page.goto(f"{server.http_url}/acceptance")
        page.get_by_role("link", name="Acceptance runs").first.click()
        page.get_by_role("button", name="Open a new run").click()
        page.wait_for_url("**/acceptance/runs/*")
        row = page.locator("#case-SPOT-005")
        assert row.locator("[data-status]").inner_text() == "not started"
        assert page.locator("#case-SPOT-001 [data-status]").inner_text() == "waiting"

        page.get_by_role("button", name="Start SPOT-005").click()
        page.wait_for_url("**started=SPOT-005**")
        assert "SPOT-005 started" in page.get_by_role("status").inner_text()
        code = page.locator("#code-SPOT-005").inner_text()
        assert len(code) == 18 and row.locator("[data-status]").inner_text() == "waiting"

        body = pay_body(code, request_id="WEB-1", currency=app["testCurrency"])
        body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
        assert signed_post(server.http_url, app, "pay", body)["result"]["resultCode"] == "SYSTEM_ERROR"
        signed_post(server.http_url, app, "inquiryPayment", {"paymentRequestId": "WEB-1"})
        # The cases region refreshes itself: the grade appears without a reload.
        page.locator("#case-SPOT-005 [data-status='passed']").wait_for(timeout=10_000)
        evidence = page.locator("#case-SPOT-005 .evidence a")
        assert evidence.count() == 2 and evidence.first.get_attribute("href", timeout=1000).startswith(
            "/console/requests/"
        )

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Finish run").click()
        page.locator("#run-status", has_text="finished").wait_for()
        assert page.locator("#case-SPOT-001 [data-status]").inner_text() == "failed"
        assert "answered F SYSTEM_ERROR" in page.locator("#case-SPOT-001 .reason").inner_text()
        assert "never started" in page.locator("#case-SPOT-002 .reason").inner_text()
        assert page.get_by_role("button", name="Start SPOT-006").count() == 0

        href = page.get_by_role("link", name="Download JUnit").get_attribute("href")
        junit = page.request.get(server.http_url + href)
        suite = ET.fromstring(junit.text())
        assert suite.get("failures") == str(len(suite.findall("testcase")) - 1)
    finally:
        assert server.stop() == 0
