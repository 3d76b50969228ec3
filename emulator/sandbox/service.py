"""Seeding, reset, lookups and the public view of the sandbox resources."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import delete, update
from sqlmodel import Session, SQLModel, col, select

from ..amounts import MINOR_UNITS
from ..errors import ControlError
from ..settings import Settings
from ..signing import (
    KeyFormatError,
    load_private_key,
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
                notification_url=app.notification_url,
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
    balances: dict[tuple[str, str], int] = {}
    for customer_id, currency in merchant_customer_ids(definition):
        balances[(merchant_owner(customer_id), currency)] = 0
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
            balances[(buyer_owner(buyer.login_id), currency)] = amount
    _set_balances(session, balances)
    # Kept across resets: ids are never reused. One query for all, then one batch of inserts.
    counters = set(session.exec(select(Counter.name).where(col(Counter.name).in_(SEQUENCES))).all())
    for name in SEQUENCES:
        if name not in counters:
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


def _set_balances(session: Session, amounts: dict[tuple[str, str], int]) -> None:
    """Set each ``(owner, currency)`` balance, adding the rows missing: one query, then batches."""
    owners = sorted({owner for owner, _ in amounts})
    rows = {
        (row.owner, row.currency): row
        for row in session.exec(select(Balance).where(col(Balance.owner).in_(owners))).all()
    }
    for (owner, currency), amount in amounts.items():
        row = rows.get((owner, currency))
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


def merchant_account(definition: SandboxDefinition, row: Application) -> dict[str, str]:
    """The sandbox merchant's sign-in (ISV authorization page): derived, so it needs no storage."""
    digest = hashlib.sha256(f"{definition.seed}|{row.client_id}|merchant-account".encode()).hexdigest()
    return {"loginId": f"merchant.{row.customer_id}@sandbox.example", "password": digest[:12]}


def private_key_of(
    definition: SandboxDefinition, row: Application, generated_pem: str | None
) -> rsa.RSAPrivateKey | None:
    """The TEST-ONLY merchant private key the emulator holds for an application, if any."""
    seed_app = next((a for a in definition.applications if a.client_id == row.client_id), None)
    if seed_app is not None:
        return seed_app.private_key
    if generated_pem:
        return load_private_key(generated_pem)
    return None


def test_token_of(session: Session, row: Application) -> str | None:
    """The ISV's sandbox test token: the first token issued for its test merchant."""
    if row.role != "ISV" or not row.test_merchant_customer_id:
        return None
    tokens = session.exec(
        select(AgentToken).where(
            AgentToken.isv_client_id == row.client_id,
            AgentToken.merchant_customer_id == row.test_merchant_customer_id,
        )
    ).all()
    return min(tokens, key=lambda t: (t.issued_at, t.token)).token if tokens else None


def application_entry(
    session: Session,
    definition: SandboxDefinition,
    settings: Settings,
    row: Application,
    *,
    private_key: rsa.RSAPrivateKey | None,
    buyer: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One entry of ``applications`` in ``GET /_emulator/sandbox`` (DESIGN.md)."""
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
    # Only a private key that matches the registered public key: after you upload your own, the
    # emulator no longer offers one that would sign with the wrong key.
    if private_key is not None and key is not None and _same_key(key.public_key, private_key):
        entry["merchantPrivateKey"] = private_key_pkcs8_b64(private_key)
        entry["merchantPrivateKeyPem"] = private_key_pkcs1_pem(private_key)
    entry["sftp"] = {"username": row.sftp_username, "password": row.sftp_password}
    entry["merchantAccount"] = merchant_account(definition, row)
    if buyer is not None:
        entry["buyer"] = buyer
    if row.role == "ISV":
        entry["isvCustomerId"] = row.isv_customer_id
        entry["testMerchantCustomerId"] = row.test_merchant_customer_id
        entry["testToken"] = test_token_of(session, row)
        entry["authorizationUrl"] = f"{settings.http_url()}/_emulator/isv/{row.client_id}/authorize"
    return entry


def _same_key(registered: str, private_key: rsa.RSAPrivateKey) -> bool:
    try:
        return public_key_b64(load_public_key(registered)) == public_key_b64(private_key.public_key())
    except KeyFormatError:
        return False


def resources(
    session: Session,
    definition: SandboxDefinition,
    settings: Settings,
    *,
    sftp_host: str,
    generated: dict[str, tuple[str | None, str | None]] | None = None,
) -> dict[str, Any]:
    """The shape of ``GET /_emulator/sandbox`` (DESIGN.md).

    ``generated`` maps the client ID of an application created at runtime to its generated
    private key (PEM) and its own buyer's login.
    """
    generated = generated or {}
    seeds = {a.client_id: a for a in definition.applications}
    apps: list[dict[str, Any]] = []
    buyer_rows = {b.login_id: b for b in session.exec(select(Buyer)).all()}
    first_normal = next((b for b in definition.buyers if b.behaviour == "normal"), None)
    for row in session.exec(select(Application)).all():
        pem, buyer_login = generated.get(row.client_id, (None, None))
        buyer_row = buyer_rows.get(buyer_login or (first_normal.login_id if first_normal else ""))
        buyer = {"loginId": buyer_row.login_id, "password": buyer_row.password} if buyer_row else None
        apps.append(
            application_entry(
                session,
                definition,
                settings,
                row,
                private_key=private_key_of(definition, row, pem),
                buyer=buyer,
            )
        )
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


def set_notification_url(session: Session, client_id: str, url: str | None) -> Application:
    """Integration Settings: the URL notifications go to when a pay carries no paymentNotifyUrl.

    ``None`` or "" clears it. The caller invalidates the ``Directory`` after the commit.
    """
    app = require_application(session, client_id)
    value = (url or "").strip() or None
    if value is not None and (not value.startswith(("http://", "https://")) or len(value) > 2048):
        raise ControlError(422, "notificationUrl must be an http(s) URL of at most 2048 characters")
    app.notification_url = value
    session.add(app)
    return app


# -- the buyer's wallet (sandbox console, issue #11) ------------------------------------------


def find_buyer(session: Session, login_id: str) -> Buyer | None:
    return session.get(Buyer, login_id)


def require_buyer(session: Session, login_id: str) -> Buyer:
    buyer = session.get(Buyer, login_id)
    if buyer is None:
        raise ControlError(404, f"loginId: no buyer with loginId {login_id!r}")
    return buyer


def check_buyer_password(session: Session, *, login_id: str, password: str) -> Buyer | None:
    """The buyer whose sandbox password this is, or None (compared in constant time)."""
    buyer = session.get(Buyer, login_id)
    expected = buyer.password if buyer is not None else "\x00" * 16
    if not hmac.compare_digest(expected.encode(), password.encode()) or buyer is None:
        return None
    return buyer


def buyer_balances(session: Session, login_id: str) -> dict[str, int]:
    """Every balance of the buyer, in minor units, by currency."""
    rows = session.exec(select(Balance).where(Balance.owner == buyer_owner(login_id))).all()
    return {r.currency: r.amount for r in sorted(rows, key=lambda r: r.currency)}


def set_buyer_balance(session: Session, *, login_id: str, currency: str, value: str) -> int:
    """Set (top up or lower) a buyer's balance; ``value`` in minor units like ``Amount.value``.

    This is the one place money enters or leaves the sandbox other than seeding: a test wallet
    is topped up by hand, as in the hosted sandbox's test wallet app.
    """
    require_buyer(session, login_id)
    if currency not in MINOR_UNITS:
        raise ControlError(422, f"currency: {currency!r} is not a supported ISO-4217 currency")
    if not value.isascii() or not value.isdigit() or len(value) > 16:
        raise ControlError(422, "value: a non-negative integer string of minor units, at most 16 digits")
    amount = int(value)
    row = session.get(Balance, (buyer_owner(login_id), currency))
    if row is None:
        row = Balance(owner=buyer_owner(login_id), currency=currency, amount=amount)
    else:
        row.amount = amount
    session.add(row)
    session.flush()
    return amount
