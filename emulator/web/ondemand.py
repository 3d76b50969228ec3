"""The pages, routed on demand: their modules are imported by the first request no API route takes.

Importing the Developer Center, console and acceptance pages builds a hundred routes (~0.2 s of
a start-up); the gateway and the control API need none of them. So ``create_app`` ends the
app's routes with ``PagesOnDemand``: until the pages are in, it takes every request the API
routes did not (a page, an unknown path), imports the page modules in a worker thread (the
event loop keeps serving the gateway meanwhile), includes their routers, in their order, and
routes the request again; from then on it matches nothing. Page paths and API paths are
disjoint, so the pages coming last changes no route's match. The cost: the first page view of
a process waits for the import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send


class PagesOnDemand(BaseRoute):
    """``load()`` imports the page modules (any thread); ``install(app, loaded)`` routes them."""

    def __init__(
        self, app: FastAPI, load: Callable[[], Any], install: Callable[[FastAPI, Any], None]
    ) -> None:
        self._app = app
        self._load = load
        self._install = install
        self._lock: asyncio.Lock | None = None
        self.installed = False

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.installed or scope["type"] != "http":
            return Match.NONE, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.ensure()
        await self._app.router(scope, receive, send)

    async def ensure(self) -> None:
        """Import and route the pages, once; concurrent first requests wait for the one doing it."""
        if self.installed:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.installed:
                loaded = await run_in_threadpool(self._load)
                self._install(self._app, loaded)  # on the event loop: no request is routed meanwhile
                self.installed = True
