"""Who may use the pages: the admin token once (a cookie), and CSRF protection on every form.

With ``ALIPAY_EMULATOR_ADMIN_TOKEN`` set, a page asks for the token once at ``/login`` and keeps
a session cookie whose value is an HMAC of the token (stateless, so every process of one sandbox
accepts it). Every state-changing form carries a per-browser CSRF token (double submit: the
value of a SameSite=Strict cookie, repeated in a hidden field), with or without an admin token:
a cross-site form post is the one request a browser sends for another site without asking.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import URL

from ..adminauth import SESSION_COOKIE, cookie_ok, session_value

__all__ = ["SESSION_COOKIE", "session_value"]

CSRF_COOKIE = "alipay_emulator_csrf"
CSRF_FIELD = "csrf_token"


def admin_token_of(request: Request) -> str | None:
    token: str | None = request.app.state.runtime.settings.admin_token
    return token or None


def safe_next(target: str | None) -> str:
    """Only a path on this server: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def require_page_session(request: Request) -> None:
    """Pages need the admin token's session cookie when a token is set; else off to /login."""
    token = admin_token_of(request)
    if token is None or cookie_ok(token, request.cookies.get(SESSION_COOKIE)):
        return
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "sign in with the admin token", headers={"Location": str(login_url(here))})


def login_url(next_path: str) -> URL:
    return URL("/login").include_query_params(next=next_path)


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: the cookie's value, or a new one (the page render sets it)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current:
        return current
    minted: str | None = getattr(request.state, "csrf_minted", None)
    if minted is None:
        minted = secrets.token_urlsafe(24)
        request.state.csrf_minted = minted
    return minted


async def require_csrf(request: Request) -> None:
    """A form post must repeat the CSRF cookie in its hidden field."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    given = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not isinstance(given, str) or not cookie or not hmac.compare_digest(given, cookie):
        raise HTTPException(
            403, "the form's CSRF token is missing or stale: reload the page and submit again"
        )


PageSession = Annotated[None, Depends(require_page_session)]
Csrf = Annotated[None, Depends(require_csrf)]
