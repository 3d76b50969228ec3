"""Rows of the Developer Center: provisioning an application's sandbox data, and keeping it across resets.

``POST /_emulator/reset`` wipes every table and seeds again; applications created at runtime are
configuration (like the real developer center's), so they are copied out before the wipe and
put back after it, with fresh balances and none of their transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ..sandbox.models import AgentToken, Application, Balance, Buyer, MerchantKey, buyer_owner, merchant_owner
from ..signing import load_private_key, public_key_b64
from ..storage import Database
from .models import ORIGIN_RUNTIME, ApplicationProfile, Developer

# What a buyer holds in a currency it had no balance in (a newly added test currency).
NEW_CURRENCY_BALANCE = {"normal": 1_000_000_000, "insufficient_balance": 500}
DEFAULT_NEW_CURRENCY_BALANCE = 10_000_000


@dataclass
class Kept:
    applications: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    buyers: list[dict[str, Any]] = field(default_factory=list)
    developer: dict[str, Any] | None = None


def profiles(session: Session) -> dict[str, ApplicationProfile]:
    return {p.client_id: p for p in session.exec(select(ApplicationProfile)).all()}


def generated(session: Session) -> dict[str, tuple[str | None, str | None]]:
    """Client ID -> (generated private key PEM, own buyer login) of applications created at runtime."""
    return {
        p.client_id: (p.private_key_pem, p.buyer_login_id)
        for p in profiles(session).values()
        if p.origin == ORIGIN_RUNTIME
    }


def snapshot(session: Session) -> Kept:
    kept = Kept()
    all_profiles = list(profiles(session).values())
    runtime_ids = {p.client_id for p in all_profiles if p.origin == ORIGIN_RUNTIME}
    live_ids = {p.production_client_id for p in all_profiles if p.production_client_id}
    kept.profiles = [p.model_dump() for p in all_profiles]
    dev = session.get(Developer, 1)
    kept.developer = dev.model_dump() if dev else None
    if not runtime_ids and not live_ids:  # nothing else to keep: the seed brings the rest back
        return kept
    kept.applications = [
        a.model_dump() for a in session.exec(select(Application)).all() if a.client_id in runtime_ids
    ]
    kept.keys = [
        k.model_dump()
        for k in session.exec(select(MerchantKey)).all()
        if k.client_id in runtime_ids or k.client_id in live_ids
    ]
    logins = {p.buyer_login_id for p in all_profiles if p.origin == ORIGIN_RUNTIME and p.buyer_login_id}
    kept.buyers = [b.model_dump() for b in session.exec(select(Buyer)).all() if b.login_id in logins]
    return kept


def restore(session: Session, kept: Kept, *, now: datetime) -> None:
    for a in kept.applications:
        session.add(Application(**a))
    for p in kept.profiles:
        session.add(ApplicationProfile(**p))
    for k in kept.keys:
        session.add(MerchantKey(**k))
    for b in kept.buyers:
        session.add(Buyer(**b))
    if kept.developer is not None:
        session.add(Developer(**kept.developer))
    session.flush()
    for a in kept.applications:
        app = session.get(Application, a["client_id"])
        assert app is not None
        provision_balances(session, app, refill=True)
    for p in kept.profiles:
        if p["origin"] == ORIGIN_RUNTIME and p["test_token"]:
            app = session.get(Application, p["client_id"])
            if app is not None and app.test_merchant_customer_id:
                session.add(
                    AgentToken(
                        token=p["test_token"],
                        isv_client_id=app.client_id,
                        merchant_customer_id=app.test_merchant_customer_id,
                        issued_at=now,
                    )
                )
    session.flush()


def provision_balances(session: Session, app: Application, *, refill: bool = False) -> None:
    """The application's merchants start at zero; every buyer gets a balance in its currency.

    ``refill`` (after a reset, which zeroes the balance rows it does not seed again): a buyer's
    zero balance in such a currency gets its starting amount back too.
    """
    for customer_id in (app.customer_id, app.test_merchant_customer_id):
        if customer_id and session.get(Balance, (merchant_owner(customer_id), app.test_currency)) is None:
            session.add(Balance(owner=merchant_owner(customer_id), currency=app.test_currency, amount=0))
    currencies = sorted({row.test_currency for row in session.exec(select(Application)).all()})
    for buyer in session.exec(select(Buyer)).all():
        for currency in currencies:
            owner = buyer_owner(buyer.login_id)
            amount = NEW_CURRENCY_BALANCE.get(buyer.behaviour, DEFAULT_NEW_CURRENCY_BALANCE)
            row = session.get(Balance, (owner, currency))
            if row is None:
                session.add(Balance(owner=owner, currency=currency, amount=amount))
            elif refill and row.amount == 0:
                row.amount = amount
                session.add(row)
    session.flush()


def after_scoped_reset(db: Database, client_id: str | None) -> None:
    """A scoped reset put seeded keys back; an application created at runtime gets its generated one."""
    if client_id is None:
        return
    with db.write() as session:
        profile = session.get(ApplicationProfile, client_id)
        if profile is None or profile.origin != ORIGIN_RUNTIME or not profile.private_key_pem:
            return
        if session.get(MerchantKey, (client_id, "1")) is None:
            key = load_private_key(profile.private_key_pem)
            session.add(
                MerchantKey(client_id=client_id, key_version="1", public_key=public_key_b64(key.public_key()))
            )
