"""The HTTP protocol the server runs: uvicorn's httptools protocol plus one capability.

Faults and sandbox triggers must sometimes answer *nothing*: close the connection after the
request was processed (spec §5 trigger 9902, fault ``drop_after_commit``). ASGI has no way to say
that (an app that raises gets a 500), so each request's scope carries ``emulator.drop``: a callable
that marks the response cycle disconnected and closes the socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DROP = "emulator.drop"


class DroppableHttpProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = dict(self.scope.get("extensions") or {})
        extensions[DROP] = self._drop
        self.scope["extensions"] = extensions

    def _drop(self) -> None:
        if self.cycle is not None:
            # uvicorn then discards whatever the app sends and does not answer 500.
            self.cycle.disconnected = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def drop_capability(scope: Mapping[str, Any]) -> Callable[[], None] | None:
    extensions = scope.get("extensions") or {}
    fn = extensions.get(DROP)
    return fn if callable(fn) else None
