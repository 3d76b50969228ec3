"""Authenticate one gateway call: client, key, signature over the raw bytes, Agent-Token.

Checks run in the order of spec §8 item 8; each failure raises the ``GatewayError`` of its
wire code with a ``Diagnosis`` for the journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select

from ..control.simulation import Fault
from ..errors import ClientInvalid, GatewayError, InvalidSignature, KeyNotFound, ParamIllegal
from ..journal import Diagnosis
from ..sandbox.access import Merchant, acting_merchant
from ..sandbox.directory import Directory
from ..sandbox.models import MerchantKey
from ..signing import (
    KeyFormatError,
    SignatureHeader,
    SignatureMismatch,
    canonical_message,
    load_public_key,
    parse_signature_header,
    verify,
)
from ..storage import Database


@dataclass
class GatewayCall:
    """One call as received; filled in as the pipeline proceeds."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    started: float
    body: bytes = b""
    api: str | None = None
    client_id: str = ""
    merchant: Merchant | None = None
    diagnosis: Diagnosis | None = None
    fault: Fault | None = None
    # Extra facts for the journal entry (a spelling accepted, the response fault sent, ...).
    notes: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=256)
def _public_key(b64: str) -> rsa.RSAPublicKey:
    return load_public_key(b64)


def _fail(error: GatewayError, call: GatewayCall, check: str, **details: str | None) -> GatewayError:
    call.diagnosis = Diagnosis(check=check, message=error.diagnosis, **details)
    return error


def authenticate(db: Database, directory: Directory, call: GatewayCall) -> Merchant:
    """Run client -> key -> signature -> agent-token checks; return who the call acts for."""
    headers = call.headers
    client_id = headers.get("client-id", "").strip()
    if not client_id:
        raise _fail(ParamIllegal("client-id", "header is required"), call, "client")
    app = directory.application(client_id)
    if app is None:
        raise _fail(ClientInvalid(diagnosis=f"no application has client ID {client_id!r}"), call, "client")
    raw_sig = headers.get("signature", "").strip()
    if not raw_sig:
        raise _fail(ParamIllegal("signature", "header is required"), call, "signature")
    request_time = headers.get("request-time", "")
    if not request_time.strip():
        raise _fail(ParamIllegal("request-time", "header is required"), call, "signature")
    try:
        parsed = parse_signature_header(raw_sig)
    except SignatureMismatch as exc:
        raise _fail(InvalidSignature(diagnosis=str(exc)), call, "signature") from exc
    key = directory.public_key(client_id, parsed.key_version)
    if key is None:
        raise _fail(
            KeyNotFound(diagnosis=f"no merchant public key version {parsed.key_version} for {client_id}"),
            call,
            "key",
            key_version=parsed.key_version,
        )
    if key.key is None:
        raise _fail(KeyNotFound(diagnosis="the registered key is unusable"), call, "key")
    _check_signature(db, call, client_id, request_time, parsed, key.key)
    merchant = acting_merchant(directory, app, headers.get("agent-token", ""))
    call.merchant = merchant
    return merchant


def _check_signature(
    db: Database,
    call: GatewayCall,
    client_id: str,
    request_time: str,
    parsed: SignatureHeader,
    key: rsa.RSAPublicKey,
) -> None:
    paths = [call.path] + ([f"{call.path}?{call.query}"] if call.query else [])
    for path in paths:
        message = canonical_message(
            method=call.method, path=path, client_id=client_id, time=request_time, body=call.body
        )
        try:
            verify(message, parsed.signature, key)
            return
        except SignatureMismatch:
            continue
    expected = canonical_message(
        method=call.method, path=call.path, client_id=client_id, time=request_time, body=call.body
    )
    with db.read() as session:
        differs = _what_differs(session, call, client_id, request_time, parsed)
    raise _fail(
        InvalidSignature(
            diagnosis=f"RSA-SHA256 check failed with key version {parsed.key_version} of {client_id}"
        ),
        call,
        "signature",
        verified_string=expected.decode("utf-8", errors="replace"),
        key_version=parsed.key_version,
        differs=differs,
    )


def _what_differs(
    session: Session, call: GatewayCall, client_id: str, request_time: str, parsed: SignatureHeader
) -> str | None:
    """Try the usual mistakes; name the first variant that would have verified."""
    keys = session.exec(select(MerchantKey).where(MerchantKey.client_id == client_id)).all()
    other_path = (
        call.path.replace("/ams/sandbox/api/", "/ams/api/", 1)
        if "/ams/sandbox/api/" in call.path
        else call.path.replace("/ams/api/", "/ams/sandbox/api/", 1)
    )
    variants: list[tuple[str, str, str, bytes]] = [
        (
            f"path: signed over {other_path}, but the request was sent to {call.path}",
            other_path,
            request_time,
            call.body,
        ),
        (
            "body: signed over the body with trailing whitespace removed",
            call.path,
            request_time,
            call.body.rstrip(),
        ),
    ]
    for mk in keys:
        try:
            key = _public_key(mk.public_key)
        except KeyFormatError:
            continue
        for text, path, time, body in variants:
            msg = canonical_message(method=call.method, path=path, client_id=client_id, time=time, body=body)
            try:
                verify(msg, parsed.signature, key)
            except SignatureMismatch:
                continue
            return text
        if mk.key_version != parsed.key_version:
            msg = canonical_message(
                method=call.method,
                path=call.path,
                client_id=client_id,
                time=request_time,
                body=call.body,
            )
            try:
                verify(msg, parsed.signature, key)
            except SignatureMismatch:
                continue
            return f"keyVersion: signed with key version {mk.key_version}, header says {parsed.key_version}"
    return (
        "no common variant verifies: the body, time, client ID or key pair differ from what was "
        "signed (check the merchant private key matches the registered public key)"
    )
