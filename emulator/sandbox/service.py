"""Seeding, reset, lookups and the public view of the sandbox resources."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, SQLModel, col, select

from ..errors import ControlError
from ..settings import Settings
from ..signing import (
    KeyFormatError,
    load_public_key,
    private_key_pkcs1_pem,
    private_key_pkcs8_b64,
    public_key_b64,
)
from ..storage import Counter, next_sequence
from .fixtures import SCENARIOS, SandboxDefinition
from .models import (
    AgentToken,
    Application,
    Balance,
    Buyer,
    MerchantKey,
    buyer_owner,
    merchant_owner,
)

SEQUENCES = ("payment", "refund", "payment_code", "agent_token", "journal")


def is_seeded(session: Session) -> bool:
    return session.exec(select(Application.client_id).limit(1)).first() is not None


def merchant_customer_ids(definition: SandboxDefinition) -> list[tuple[str, str]]:
    """Every merchant that can hold funds, with its currency (ISV test merchants included)."""
    out: list[tuple[str, str]] = []
    for app in definition.applications:
        out.append((app.customer_id, app.test_currency))
        if app.test_merchant_customer_id:
            out.append((app.test_merchant_customer_id, app.test_currency))
    return out


def seed(session: Session, definition: SandboxDefinition, *, now: datetime) -> None:
    for app in definition.applications:
        session.add(
            Application(
                client_id=app.client_id,
                name=app.name,
                role=app.role,
                customer_id=app.customer_id,
                test_currency=app.test_currency,
                settlement_currency=app.settlement_currency,
                scenarios=",".join(SCENARIOS),
                sftp_username=app.sftp_username,
                sftp_password=app.sftp_password,
                isv_customer_id=app.isv_customer_id,
                test_merchant_customer_id=app.test_merchant_customer_id,
            )
        )
        session.add(
            MerchantKey(
                client_id=app.client_id,
                key_version="1",
                public_key=public_key_b64(app.private_key.public_key()),
            )
        )
        if app.test_token and app.test_merchant_customer_id:
            session.add(
                AgentToken(
                    token=app.test_token,
                    isv_client_id=app.client_id,
                    merchant_customer_id=app.test_merchant_customer_id,
                    issued_at=now,
                )
            )
    for customer_id, currency in merchant_customer_ids(definition):
        _set_balance(session, merchant_owner(customer_id), currency, 0)
    for buyer in definition.buyers:
        session.add(
            Buyer(
                login_id=buyer.login_id,
                password=buyer.password,
                name=buyer.name,
                psp_customer_id=buyer.psp_customer_id,
                behaviour=buyer.behaviour,
            )
        )
        for currency, amount in buyer.balances.items():
            _set_balance(session, buyer_owner(buyer.login_id), currency, amount)
    for name in SEQUENCES:
        if session.get(Counter, name) is None:  # kept across resets: ids are never reused
            session.add(Counter(name=name, value=0))
    session.flush()


# Kept by a reset: the sequence counters (a process may hold a block of ids reserved from them),
# the world's version row, the shared identity (CA, host key), and the balance rows, which are
# set to zero and then to their seeded amounts: a payment another process is making meanwhile
# then waits for the reset and debits the seeded balance, instead of finding its row gone.
_KEPT = frozenset({"counter", "world", "identity", "balance"})


def wipe(session: Session) -> None:
    """Delete every row of every table (children first), but the ones in ``_KEPT``."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in _KEPT:
            session.execute(delete(table))
    # In key order, like every money movement (ledger.py), so this never deadlocks with one.
    owners = session.exec(
        select(Balance.owner, Balance.currency)
        .order_by(col(Balance.owner), col(Balance.currency))
        .with_for_update()
    ).all()
    if owners:
        session.execute(update(Balance).values(amount=0))


def _set_balance(session: Session, owner: str, currency: str, amount: int) -> None:
    row = session.get(Balance, (owner, currency))
    if row is None:
        session.add(Balance(owner=owner, currency=currency, amount=amount))
    else:
        row.amount = amount
        session.add(row)


def find_application(session: Session, client_id: str) -> Application | None:
    return session.get(Application, client_id)


def require_application(session: Session, client_id: str) -> Application:
    app = find_application(session, client_id)
    if app is None:
        raise ControlError(404, f"no application with client ID {client_id!r}")
    return app


def find_key(session: Session, client_id: str, key_version: str) -> str | None:
    row = session.get(MerchantKey, (client_id, key_version))
    return row.public_key if row else None


def set_public_key(session: Session, *, client_id: str, public_key: str, key_version: str) -> MerchantKey:
    require_application(session, client_id)
    try:
        load_public_key(public_key)
    except KeyFormatError as exc:
        raise ControlError(422, f"publicKey: {exc}") from exc
    if not key_version.isdigit() or len(key_version) > 8:
        raise ControlError(422, "keyVersion: must be a number")
    row = session.get(MerchantKey, (client_id, key_version))
    if row is None:
        row = MerchantKey(client_id=client_id, key_version=key_version, public_key=public_key.strip())
    else:
        row.public_key = public_key.strip()
    session.add(row)
    return row


def find_agent_token(session: Session, token: str) -> AgentToken | None:
    return session.get(AgentToken, token)


_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"


def issue_agent_token(
    session: Session, *, isv_client_id: str, merchant_client_id: str, now: datetime
) -> AgentToken:
    """A merchant authorises an ISV: a new 48-character token acting for that merchant only."""
    isv = require_application(session, isv_client_id)
    if isv.role != "ISV":
        raise ControlError(422, f"{isv_client_id} is a {isv.role} application, not an ISV")
    merchant = require_application(session, merchant_client_id)
    if merchant.role == "ISV":
        raise ControlError(422, "an ISV cannot authorise another ISV")
    seq = next_sequence(session, "agent_token")
    # Deterministic (house rule 4): derived from the sequence, not from a random source.
    digest = hashlib.sha256(f"{isv_client_id}|{merchant_client_id}|{seq}".encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(48):
        number, rem = divmod(number, len(_TOKEN_ALPHABET))
        chars.append(_TOKEN_ALPHABET[rem])
    token = AgentToken(
        token="".join(chars),
        isv_client_id=isv_client_id,
        merchant_customer_id=merchant.customer_id,
        issued_at=now,
    )
    session.add(token)
    session.flush()
    return token


def revoke_agent_token(session: Session, *, token: str, now: datetime) -> AgentToken:
    row = session.get(AgentToken, token)
    if row is None:
        raise ControlError(404, "no such agent token")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    return row


def agent_tokens(session: Session, isv_client_id: str) -> list[AgentToken]:
    return list(session.exec(select(AgentToken).where(AgentToken.isv_client_id == isv_client_id)).all())


def resources(
    session: Session, definition: SandboxDefinition, settings: Settings, *, sftp_host: str
) -> dict[str, Any]:
    """The shape of ``GET /_emulator/sandbox`` (DESIGN.md)."""
    seeds = {a.client_id: a for a in definition.applications}
    apps: list[dict[str, Any]] = []
    for row in session.exec(select(Application)).all():
        seed_app = seeds.get(row.client_id)
        key = session.get(MerchantKey, (row.client_id, "1"))
        entry: dict[str, Any] = {
            "name": row.name,
            "role": row.role,
            "clientId": row.client_id,
            "product": row.product,
            "scenarios": row.scenarios.split(","),
            "testCurrency": row.test_currency,
            "keyVersion": "1",
            "customerId": row.customer_id,
            "merchantPublicKey": key.public_key if key else None,
        }
        if seed_app is not None:
            entry["merchantPrivateKey"] = private_key_pkcs8_b64(seed_app.private_key)
            entry["merchantPrivateKeyPem"] = private_key_pkcs1_pem(seed_app.private_key)
        entry["sftp"] = {"username": row.sftp_username, "password": row.sftp_password}
        if row.role == "ISV":
            entry["isvCustomerId"] = row.isv_customer_id
            entry["testMerchantCustomerId"] = row.test_merchant_customer_id
            entry["testToken"] = seed_app.test_token if seed_app else None
            entry["authorizationUrl"] = f"{settings.http_url()}/_emulator/isv/{row.client_id}/authorize"
        apps.append(entry)
    apps.sort(
        key=lambda a: (
            [s.client_id for s in definition.applications].index(a["clientId"])
            if a["clientId"] in seeds
            else len(seeds)
        )
    )
    buyers: list[dict[str, Any]] = []
    for b in session.exec(select(Buyer)).all():
        balances = session.exec(select(Balance).where(Balance.owner == buyer_owner(b.login_id))).all()
        buyers.append(
            {
                "loginId": b.login_id,
                "password": b.password,
                "name": b.name,
                "pspCustomerId": b.psp_customer_id,
                "balances": {x.currency: str(x.amount) for x in sorted(balances, key=lambda x: x.currency)},
                "behaviour": b.behaviour,
            }
        )
    order = [b.login_id for b in definition.buyers]
    buyers.sort(key=lambda b: order.index(b["loginId"]) if b["loginId"] in order else len(order))
    return {
        "gateway": {"http": settings.http_url(), "https": settings.https_url()},
        "alipayPublicKey": public_key_b64(definition.alipay_private_key.public_key()),
        "applications": apps,
        "buyers": buyers,
        "sftp": {"host": sftp_host, "port": settings.sftp_port},
    }
