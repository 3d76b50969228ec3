"""Sign-in with the admin token in real Chromium."""

from __future__ import annotations

from typing import Any

from emulator.testing import EmulatorServer


def test_sign_in_page_in_chromium(page: Any, tmp_path: Any) -> None:
    server = EmulatorServer(tmp_path / "data", tls_port=0, env={"ALIPAY_EMULATOR_ADMIN_TOKEN": "tok-123"})
    server.start()
    try:
        page.goto(f"{server.http_url}/login?next=/_emulator/static/app.css")
        page.get_by_label("Admin token").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        assert "not the admin token" in page.content()
        page.get_by_label("Admin token").fill("tok-123")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/_emulator/static/app.css")
        names = {c["name"] for c in page.context.cookies()}
        assert "alipay_emulator_session" in names
    finally:
        assert server.stop() == 0
