"""The shared page layer: admin-token sign-in, CSRF on forms, assets shipped, no other host."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings
from emulator.web.security import CSRF_COOKIE, SESSION_COOKIE, safe_next, session_value

WEB = Path(__file__).resolve().parents[2] / "emulator" / "web"
# src=, href=, url( and @import pointing at a scheme or a protocol-relative host.
OFFSITE = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?(?:[a-z]+:)?//|url\(\s*["']?(?:[a-z]+:)?//|@import\s+["']?(?:[a-z]+:)?//""",
    re.I,
)


def test_no_template_or_asset_references_another_host() -> None:
    files = [p for p in WEB.rglob("*") if p.suffix in {".html", ".css", ".js"}]
    assert files, "the web package ships its templates and assets"
    offenders = [
        f"{p.relative_to(WEB)}: {m.group(0)}" for p in files for m in OFFSITE.finditer(p.read_text())
    ]
    assert offenders == []


def test_static_assets_are_served(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0)
    with TestClient(create_app(settings)) as http:
        css = http.get("/_emulator/static/app.css")
        js = http.get("/_emulator/static/app.js")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "data-copy" not in css.text and "dataset.copy" in js.text


def test_login_without_admin_token_goes_straight_on(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0)
    with TestClient(create_app(settings)) as http:
        r = http.get("/login?next=/somewhere", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/somewhere"


def test_login_sets_session_only_for_the_right_token_and_needs_csrf(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, admin_token="s3cret-token")
    with TestClient(create_app(settings)) as http:
        form = http.get("/login?next=/x")
        assert form.status_code == 200
        assert '<label for="admin-token">Admin token</label>' in form.text
        csrf = http.cookies[CSRF_COOKIE]
        assert f'value="{csrf}"' in form.text

        no_csrf = http.post(
            "/login", data={"adminToken": "s3cret-token", "next": "/x"}, follow_redirects=False
        )
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text

        wrong = http.post(
            "/login", data={"adminToken": "nope", "next": "/x", "csrf_token": csrf}, follow_redirects=False
        )
        assert wrong.status_code == 401 and "not the admin token" in wrong.text
        assert SESSION_COOKIE not in http.cookies

        right = http.post(
            "/login",
            data={"adminToken": "s3cret-token", "next": "/x", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert right.status_code == 303 and right.headers["location"] == "/x"
        assert http.cookies[SESSION_COOKIE] == session_value("s3cret-token")
        assert "s3cret-token" not in http.cookies[SESSION_COOKIE]


def test_next_is_never_another_host() -> None:
    assert safe_next("https://evil.example/") == "/"
    assert safe_next("//evil.example/") == "/"
    assert safe_next("/\\evil") == "/"
    assert safe_next("/applications?x=1") == "/applications?x=1"
