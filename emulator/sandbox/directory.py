"""A short-lived in-memory view of applications, merchant keys and agent tokens.

Every gateway call needs them; reading them from the database each time costs more than the
rest of an inquiry. Entries live ``ttl`` seconds (so several processes sharing a database see
each other's changes within that) and are dropped at once by ``invalidate()`` when this process
changes them (key upload, token issue/revoke, reset).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select

from ..applications.models import ApplicationProfile
from ..signing import KeyFormatError, load_public_key
from ..storage import Database
from .models import AgentToken, Application, Buyer, MerchantKey

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class AppInfo:
    client_id: str
    role: str
    customer_id: str
    test_currency: str
    settlement_currency: str = ""
    notification_url: str | None = None
    live: bool = False  # called with its production client ID (a launched application)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token: str
    isv_client_id: str
    merchant_customer_id: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class BuyerInfo:
    login_id: str
    behaviour: str
    psp_customer_id: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    b64: str
    key: rsa.RSAPublicKey | None  # None: the stored key is unusable


def _launched(session: Session, production_client_id: str) -> AppInfo | None:
    """A launched application called with its production client ID: same world, live keys."""
    profile = session.exec(
        select(ApplicationProfile).where(ApplicationProfile.production_client_id == production_client_id)
    ).first()
    if profile is None or profile.launched_at is None:
        return None
    row = session.get(Application, profile.client_id)
    if row is None:
        return None
    return _info(row, client_id=production_client_id, live=True)


def _info(row: Application, *, client_id: str | None = None, live: bool = False) -> AppInfo:
    return AppInfo(
        client_id or row.client_id,
        row.role,
        row.customer_id,
        row.test_currency,
        row.settlement_currency,
        row.notification_url,
        live=live,
    )


class Directory:
    def __init__(self, db: Database, *, ttl: float = 1.0) -> None:
        self._db = db
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, ...], tuple[float, object]] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()

    def _cached(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]  # type: ignore[return-value]
        value = load()
        with self._lock:
            self._entries[key] = (now, value)
        return value

    def application(self, client_id: str) -> AppInfo | None:
        def load() -> AppInfo | None:
            with self._db.read() as session:
                row = session.get(Application, client_id)
                if row is None and not client_id.startswith("SANDBOX_"):
                    return _launched(session, client_id)
            return _info(row) if row else None

        return self._cached(("app", client_id), load)

    def public_key(self, client_id: str, key_version: str) -> KeyInfo | None:
        def load() -> KeyInfo | None:
            with self._db.read() as session:
                row = session.get(MerchantKey, (client_id, key_version))
            if row is None:
                return None
            try:
                return KeyInfo(row.public_key, load_public_key(row.public_key))
            except KeyFormatError:
                return KeyInfo(row.public_key, None)

        return self._cached(("key", client_id, key_version), load)

    def agent_token(self, token: str) -> TokenInfo | None:
        def load() -> TokenInfo | None:
            with self._db.read() as session:
                row = session.get(AgentToken, token)
            if row is None:
                return None
            return TokenInfo(
                row.token, row.isv_client_id, row.merchant_customer_id, row.revoked_at is not None
            )

        return self._cached(("token", token), load)

    def buyer(self, login_id: str) -> BuyerInfo | None:
        def load() -> BuyerInfo | None:
            with self._db.read() as session:
                row = session.get(Buyer, login_id)
            return BuyerInfo(row.login_id, row.behaviour, row.psp_customer_id) if row else None

        return self._cached(("buyer", login_id), load)
