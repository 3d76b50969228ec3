"""Pages every section shares: sign-in with the admin token, and the shipped static assets."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from .layout import render
from .security import SESSION_COOKIE, Csrf, admin_token_of, safe_next, session_value

router = APIRouter(include_in_schema=False)
STATIC_PREFIX = "/_emulator/static"


def static_files() -> StaticFiles:
    return StaticFiles(packages=[("emulator.web", "static")])


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if admin_token_of(request) is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", title="Sign in", next=safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    _csrf: Csrf,
    token: Annotated[str, Form(alias="adminToken")] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = admin_token_of(request)
    target = safe_next(next)
    if expected is None:
        return RedirectResponse(target, status_code=303)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return render(
            request,
            "login.html",
            status_code=401,
            title="Sign in",
            next=target,
            error="That is not the admin token.",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(expected), httponly=True, samesite="strict", path="/")
    return response


@router.post("/logout")
def logout(_csrf: Csrf) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
