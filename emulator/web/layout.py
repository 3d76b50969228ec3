"""Rendering pages: one Jinja2 environment, the shared layout's context, the navigation registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from ..amounts import MINOR_UNITS, to_major
from ..clock import iso
from .security import CSRF_COOKIE, CSRF_FIELD, csrf_token

if TYPE_CHECKING:
    from jinja2 import Environment


@dataclass(frozen=True)
class NavItem:
    section: str  # "Developer Center", "Console", ...
    label: str
    href: str


def major(minor: int | str | None, currency: str) -> str:
    """``1050, "USD"`` -> ``"10.50 USD"``: what a person reads, never minor units."""
    if minor is None or minor == "":
        return ""
    places = MINOR_UNITS.get(currency, 2)
    return f"{to_major(currency, int(minor)):,.{places}f} {currency}"


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    return value if isinstance(value, str) else iso(value)


@cache
def environment() -> Environment:
    """Made on the first page rendered: Jinja2 is not imported before (start-up needs no page)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("emulator.web", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["major"] = major
    env.filters["when"] = when
    return env


def register(app: FastAPI, router: APIRouter, nav: Sequence[NavItem] = ()) -> None:
    """Mount a page router and add its entries to the navigation, in call order."""
    app.include_router(router)
    items: list[NavItem] = getattr(app.state, "nav", [])
    items.extend(nav)
    app.state.nav = items


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the shared layout: navigation, the emulator clock, the CSRF token for forms."""
    runtime = request.app.state.runtime
    token = csrf_token(request)
    nav: list[NavItem] = getattr(request.app.state, "nav", [])
    sections: dict[str, list[NavItem]] = {}
    for item in nav:
        sections.setdefault(item.section, []).append(item)
    body = (
        environment()
        .get_template(template)
        .render(
            request=request,
            path=request.url.path,
            sections=sections,
            emulator_now=iso(runtime.clock.now()),
            clock_frozen=runtime.clock.state.frozen_at is not None,
            csrf_field=CSRF_FIELD,
            csrf_token=token,
            signed_in=bool(runtime.settings.admin_token),
            **context,
        )
    )
    response = HTMLResponse(body, status_code=status_code)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response
