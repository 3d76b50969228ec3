"""``create_app(settings)``: the only module that knows every router and service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from types import ModuleType
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__, world
from .acceptance import router as acceptance
from .acceptance.install import install as install_acceptance
from .acceptance.service import launch_blockers
from .applications import router as applications_api
from .control import router as control
from .errors import ControlError
from .gateway import router as gateway
from .notifications import router as notifications
from .payments import api as payments_api
from .payments import router as payments_router
from .reconciliation import router as reconciliation
from .reconciliation.install import install as install_reconciliation
from .refunds import api as refunds_api
from .registrations import api as registrations_api
from .registrations import router as registrations
from .runtime import Runtime, build_runtime
from .settings import Settings
from .startup import Prepared
from .wallet import router as wallet
from .web import pages as web_pages
from .web.layout import register as register_pages
from .web.ondemand import PagesOnDemand

log = logging.getLogger("emulator")


class GatewayDispatch:
    """In front of everything: split absolute-form targets, send ``/ams/...`` to the gateway.

    The Python SDK sends ``POST https://host/ams/... HTTP/1.1`` (spec §8 item 2): httptools
    splits such targets, h11 hands them over whole, so they are split here too. Gateway paths go
    to the plain ASGI gateway (the hot path); the rest to FastAPI (control API, wallet pages).
    """

    def __init__(self, app: ASGIApp, owner: FastAPI | None = None) -> None:
        self.app = app
        # Inside FastAPI's middleware stack the app is in the scope; wrapped around it (the
        # server does that, to skip Starlette's layers on the hot path) it is given.
        if owner is None:
            self.gateway = gateway.GatewayApp(lambda scope: scope["app"].state.runtime)
        else:
            state = owner.state
            self.gateway = gateway.GatewayApp(lambda scope: state.runtime)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not scope["path"].startswith("/"):
                parts = urlsplit(scope["path"])
                scope = dict(scope)
                scope["path"] = parts.path or "/"
                scope["raw_path"] = (parts.path or "/").encode()
                if parts.query and not scope.get("query_string"):
                    scope["query_string"] = parts.query.encode()
            if scope["path"].startswith("/ams/"):
                await self.gateway(scope, receive, send)
                return
        await self.app(scope, receive, send)


def wire(runtime: Runtime) -> Runtime:
    """Register the gateway operations of every domain on the runtime."""
    quotes = runtime.settings.reconciliation_fx_quotes
    ops = (
        payments_api.operations(runtime.payments, runtime.refunds, fx_quotes=quotes)
        + refunds_api.operations(runtime.refunds, fx_quotes=quotes)
        + registrations_api.operations(runtime.registrations)
    )
    runtime.operations = {op.api: op for op in ops}
    # The go-live gate (issue #10): Launch refuses while a required acceptance case has not passed.
    runtime.launch_checks.append(partial(launch_blockers, runtime.db))
    return runtime


def _import_pages() -> tuple[ModuleType, ...]:
    """The page modules that only pages need (emulator.web.ondemand): imported on demand."""
    from .acceptance import pages as acceptance_pages
    from .console import pages as console_pages
    from .web import devcenter as devcenter_pages

    return devcenter_pages, console_pages, acceptance_pages


def _install_pages(app: FastAPI, modules: tuple[ModuleType, ...]) -> None:
    """Every page router, in the order of the navigation (Developer Center, console, acceptance)."""
    devcenter_pages, console_pages, acceptance_pages = modules
    app.include_router(wallet.pages)
    register_pages(app, web_pages.router)
    register_pages(app, devcenter_pages.router, nav=devcenter_pages.NAV)
    register_pages(app, console_pages.router, nav=console_pages.NAV)
    register_pages(app, acceptance_pages.router, nav=acceptance_pages.NAV)


async def _tick(runtime: Runtime, interval: float = 1.0) -> None:
    """Run due work once a second, so timed behaviour happens without anyone calling in."""
    while True:
        await asyncio.sleep(interval)
        await run_in_threadpool(partial(runtime.run_due, periodic=True))


async def _watch(runtime: Runtime) -> None:
    """Follow what other processes on the database change (clock, scenarios, faults, reset)."""
    while True:
        await asyncio.sleep(world.POLL_SECONDS)
        try:
            await run_in_threadpool(runtime.sync_world)
            await run_in_threadpool(runtime.journal.flush)
        except Exception:  # a lost database connection must not end the watch
            log.exception("could not read the shared world state")


def create_app(settings: Settings | None = None, *, prepared: Prepared | None = None) -> FastAPI:
    """``prepared``: a runtime ``serve`` already built and checked (emulator.startup)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if prepared is not None:
            runtime = wire(prepared.runtime)
            app.state.runtime = runtime
            app.state.reconciliation = prepared.reconciliation
        else:
            runtime = await run_in_threadpool(build_runtime, settings)
            if settings.tls_port:
                from .tls import tls_files

                await run_in_threadpool(tls_files, settings)
            app.state.runtime = wire(runtime)
            app.state.reconciliation = await run_in_threadpool(install_reconciliation, runtime)
        app.state.acceptance = install_acceptance(runtime)
        tasks = [asyncio.create_task(_tick(runtime)), asyncio.create_task(_watch(runtime))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            runtime.close()

    app = FastAPI(
        title="alipay-emulator control API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # /_emulator/docs is a page of the emulator (emulator/web/devcenter.py)
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(GatewayDispatch)

    @app.exception_handler(ControlError)
    async def _control_error(request: Request, exc: ControlError) -> Response:
        return JSONResponse({"error": exc.message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error; see the emulator's log"}, status_code=500)

    app.include_router(control.public)
    app.include_router(control.router)
    app.include_router(applications_api.router)
    app.include_router(reconciliation.router)
    app.include_router(wallet.router)
    app.include_router(notifications.router)
    app.include_router(acceptance.router)
    app.mount(web_pages.STATIC_PREFIX, web_pages.static_files(), name="static")
    app.include_router(registrations.router)
    # The payments control API (issue #11, for the console among others).
    app.include_router(payments_router.router)
    # The pages (wallet, sign-in, Developer Center, console, acceptance) last, routed on the
    # first request no route above takes (issue #15: start-up imports none of them).
    app.state.pages = PagesOnDemand(app, _import_pages, _install_pages)
    app.router.routes.append(app.state.pages)
    return app
