"""What the gateway can dispatch to: one ``Operation`` per API path, registered by app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ..sandbox.access import Merchant


@dataclass(frozen=True, slots=True)
class Reply:
    """A body plus a transport directive: ``drop`` = hold the connection, then close it unanswered."""

    body: dict[str, Any]
    drop: bool = False
    # Extra facts for the journal entry of this call (e.g. a non-contract spelling accepted).
    notes: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Merchant, Any], "dict[str, Any] | Reply"]


@dataclass(frozen=True, slots=True)
class Operation:
    """``api`` is the path after ``/v1/`` (``payments/pay``); ``name`` the short name (``pay``)."""

    api: str
    name: str
    request_model: type[BaseModel]
    handle: Handler


def api_of(path: str) -> str | None:
    """``/ams/api/v1/payments/pay`` or ``/ams/sandbox/api/v1/payments/pay`` -> ``payments/pay``."""
    for prefix in ("/ams/api/v1/", "/ams/sandbox/api/v1/"):
        if path.startswith(prefix):
            return path[len(prefix) :].rstrip("/")
    return None
