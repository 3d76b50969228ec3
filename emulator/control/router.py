"""The control API under ``/_emulator``: thin handlers over the runtime and the services."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .. import __version__
from ..clock import iso
from ..errors import ControlError
from ..runtime import Runtime
from ..sandbox import service as sandbox
from ..wallet.service import issue_payment_code

PREFIX = "/_emulator"


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def require_admin(rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> None:
    token = rt.settings.admin_token
    if not token:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise ControlError(
            401, "this control API needs Authorization: Bearer <ALIPAY_EMULATOR_ADMIN_TOKEN>"
        )


public = APIRouter(prefix=PREFIX, tags=["control"])
router = APIRouter(prefix=PREFIX, tags=["control"], dependencies=[Depends(require_admin)])


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


@public.get("/health")
def health(rt: RuntimeDep) -> dict[str, Any]:
    rt.db.ping()
    return {
        "status": "ok",
        "version": __version__,
        "database": rt.db.dialect,
        "now": iso(rt.clock.now()),
    }


@public.get("/ca.pem", response_class=PlainTextResponse)
def ca_pem(rt: RuntimeDep) -> PlainTextResponse:
    path = rt.settings.data_dir / "tls" / "ca.pem"
    if not path.exists():
        raise ControlError(404, "TLS is disabled (ALIPAY_EMULATOR_TLS_PORT=0): there is no CA")
    return PlainTextResponse(path.read_text(), media_type="application/x-pem-file")


@router.get("/sandbox")
def get_sandbox(rt: RuntimeDep) -> dict[str, Any]:
    return rt.resources()


@router.post("/reset")
def reset(rt: RuntimeDep) -> dict[str, Any]:
    rt.reset()
    return {"status": "reset", "now": iso(rt.clock.now())}


class PaymentCodeOut(CamelModel):
    payment_code: str
    expires_at: str
    buyer: str


@router.post(
    "/buyers/{login_id}/payment-codes", response_model=PaymentCodeOut, response_model_by_alias=True
)
def new_payment_code(login_id: str, rt: RuntimeDep) -> PaymentCodeOut:
    with rt.db.write() as session:
        code = issue_payment_code(
            session,
            login_id=login_id,
            now=rt.clock.now(),
            ttl_seconds=rt.settings.payment_code_ttl_seconds,
        )
    return PaymentCodeOut(payment_code=code.code, expires_at=iso(code.expires_at), buyer=login_id)


class PublicKeyIn(CamelModel):
    public_key: str = Field(min_length=16)
    key_version: str = "1"


@router.put("/applications/{client_id}/public-key")
def put_public_key(client_id: str, body: PublicKeyIn, rt: RuntimeDep) -> dict[str, str]:
    with rt.db.write() as session:
        row = sandbox.set_public_key(
            session, client_id=client_id, public_key=body.public_key, key_version=body.key_version
        )
    return {"clientId": row.client_id, "keyVersion": row.key_version, "publicKey": row.public_key}


class ClockIn(CamelModel):
    advance_seconds: float | None = Field(default=None, ge=0)
    now: datetime | None = None
    frozen: bool | None = None


def _clock_view(rt: Runtime) -> dict[str, Any]:
    state = rt.clock.state
    return {
        "now": iso(rt.clock.now()),
        "offsetSeconds": state.offset_seconds,
        "frozen": state.frozen_at is not None,
    }


@router.get("/clock")
def get_clock(rt: RuntimeDep) -> dict[str, Any]:
    return _clock_view(rt)


@router.post("/clock")
def set_clock(body: ClockIn, rt: RuntimeDep) -> dict[str, Any]:
    try:
        if body.advance_seconds is not None:
            rt.clock.advance(body.advance_seconds)
        if body.now is not None:
            rt.clock.set(body.now)
        if body.frozen is not None:
            rt.clock.freeze(body.frozen)
    except ValueError as exc:
        raise ControlError(422, str(exc)) from exc
    rt.persist_clock()
    # Whatever became due by the new "now" happens before the call returns.
    rt.run_due()
    return _clock_view(rt)


@router.get("/requests")
def list_requests(
    rt: RuntimeDep,
    client_id: Annotated[str | None, Query(alias="clientId")] = None,
    path: str | None = None,
    result_code: Annotated[str | None, Query(alias="resultCode")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    entries = rt.journal.list(client_id=client_id, path=path, result_code=result_code, limit=limit)
    return {"requests": [e.public() for e in entries], "enabled": rt.journal.enabled}


@router.get("/requests/{entry_id}")
def get_request(entry_id: int, rt: RuntimeDep) -> dict[str, Any]:
    entry = rt.journal.get(entry_id)
    if entry is None:
        raise ControlError(404, f"no journal entry {entry_id} (the journal keeps the newest only)")
    return entry.public()
