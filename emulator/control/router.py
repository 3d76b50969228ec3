"""The control API under ``/_emulator``: thin handlers over the runtime and the services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .. import __version__
from ..adminauth import SESSION_COOKIE, bearer_ok, is_authorized, same_origin
from ..clock import Clock, iso
from ..errors import ControlError
from ..journal import MAX_PAGE
from ..runtime import Runtime
from ..sandbox import service as sandbox
from ..sandbox.models import AgentToken
from ..wallet.service import issue_payment_code
from .simulation import SimulationError, make_fault, make_scenario

PREFIX = "/_emulator"


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def require_admin(
    request: Request,
    rt: RuntimeDep,
    authorization: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> None:
    """With ALIPAY_EMULATOR_ADMIN_TOKEN set: the Bearer token, or the pages' session cookie."""
    token = rt.settings.admin_token
    if not token or bearer_ok(token, authorization):
        return
    if not is_authorized(token, None, session):
        raise ControlError(401, "this control API needs Authorization: Bearer <ALIPAY_EMULATOR_ADMIN_TOKEN>")
    headers = request.headers
    if not same_origin(
        method=request.method,
        host=headers.get("host"),
        origin=headers.get("origin"),
        referer=headers.get("referer"),
    ):
        raise ControlError(403, "cross-site request refused: submit the form from the emulator's own pages")


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
def reset(rt: RuntimeDep, client_id: Annotated[str | None, Query(alias="clientId")] = None) -> dict[str, Any]:
    rt.reset(client_id=client_id)
    return {"status": "reset", "clientId": client_id, "now": iso(rt.clock.now())}


class PaymentCodeOut(CamelModel):
    payment_code: str
    expires_at: str
    buyer: str


class PaymentCodeIn(CamelModel):
    digits: int = Field(default=18, ge=16, le=24)


@router.post("/buyers/{login_id}/payment-codes", response_model=PaymentCodeOut, response_model_by_alias=True)
def new_payment_code(login_id: str, rt: RuntimeDep, body: PaymentCodeIn | None = None) -> PaymentCodeOut:
    with rt.db.write() as session:
        code = issue_payment_code(
            session,
            login_id=login_id,
            now=rt.clock.now(),
            ttl_seconds=rt.settings.payment_code_ttl_seconds,
            digits=(body or PaymentCodeIn()).digits,
        )
    return PaymentCodeOut(payment_code=code.code, expires_at=iso(code.expires_at), buyer=login_id)


class BalanceIn(CamelModel):
    value: str = Field(description="minor units, like Amount.value")


@router.put("/buyers/{login_id}/balances/{currency}")
def put_balance(login_id: str, currency: str, body: BalanceIn, rt: RuntimeDep) -> dict[str, Any]:
    with rt.db.write() as session:
        value = sandbox.set_buyer_balance(session, login_id=login_id, currency=currency, value=body.value)
    return {"buyer": login_id, "balance": {"currency": currency, "value": str(value)}}


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

    def change(clock: Clock) -> None:
        if body.advance_seconds is not None:
            clock.advance(body.advance_seconds)
        if body.now is not None:
            clock.set(body.now)
        if body.frozen is not None:
            clock.freeze(body.frozen)

    try:
        rt.change_clock(change)
    except ValueError as exc:
        raise ControlError(422, str(exc)) from exc
    # Whatever became due by the new "now" happens before the call returns.
    rt.run_due()
    return _clock_view(rt)


@router.get("/requests")
def list_requests(
    rt: RuntimeDep,
    client_id: Annotated[str | None, Query(alias="clientId")] = None,
    path: str | None = None,
    result_code: Annotated[str | None, Query(alias="resultCode")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """One page, newest first; ``next`` (present when older entries exist) is the next ``cursor``."""
    try:
        page = rt.journal.page(
            client_id=client_id, path=path, result_code=result_code, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        raise ControlError(422, f"cursor: {exc}") from exc
    out: dict[str, Any] = {"requests": [e.public() for e in page.entries], "enabled": rt.journal.enabled}
    if page.next is not None:
        out["next"] = page.next
    return out


@router.get("/requests/{entry_id}")
def get_request(entry_id: int, rt: RuntimeDep) -> dict[str, Any]:
    entry = rt.journal.get(entry_id)
    if entry is None:
        raise ControlError(404, f"no journal entry {entry_id} (the journal keeps the newest only)")
    return entry.public()


# -- ISV authorisation (the developer center's "authorize an ISV" step) ------------------------


class AuthorizationIn(CamelModel):
    merchant_client_id: str = Field(min_length=1)


def _token_view(t: AgentToken) -> dict[str, Any]:
    return {
        "agentToken": t.token,
        "isvClientId": t.isv_client_id,
        "merchantCustomerId": t.merchant_customer_id,
        "issuedAt": iso(t.issued_at),
        "revokedAt": iso(t.revoked_at) if t.revoked_at else None,
    }


@router.post("/isv/{isv_client_id}/authorizations")
def authorize_isv(isv_client_id: str, body: AuthorizationIn, rt: RuntimeDep) -> dict[str, Any]:
    with rt.db.write() as session:
        token = sandbox.issue_agent_token(
            session,
            isv_client_id=isv_client_id,
            merchant_client_id=body.merchant_client_id,
            now=rt.clock.now(),
        )
    return _token_view(token)


@router.get("/isv/{isv_client_id}/authorizations")
def list_authorizations(isv_client_id: str, rt: RuntimeDep) -> dict[str, Any]:
    with rt.db.read() as session:
        sandbox.require_application(session, isv_client_id)
        return {"authorizations": [_token_view(t) for t in sandbox.agent_tokens(session, isv_client_id)]}


@router.delete("/agent-tokens/{token}")
def revoke(token: str, rt: RuntimeDep) -> dict[str, Any]:
    with rt.db.write() as session:
        view = _token_view(sandbox.revoke_agent_token(session, token=token, now=rt.clock.now()))
    rt.directory.invalidate()
    return view


# -- error scenarios and transport faults ---------------------------------------------------------


class ScenarioIn(CamelModel):
    api: str
    result_code: str = Field(min_length=1, max_length=64)
    result_status: str | None = None
    count: int | None = None
    minutes: float | None = None
    client_id: str | None = None


class FaultIn(CamelModel):
    api: str
    kind: str
    ms: int | None = None
    status: int | None = None
    count: int | None = None
    minutes: float | None = None
    probability: float | None = None
    seed: int | None = None
    client_id: str | None = None


@router.post("/scenarios")
def add_scenario(body: ScenarioIn, rt: RuntimeDep) -> dict[str, Any]:
    try:
        return rt.simulations.add(make_scenario(now=rt.clock.now(), **body.model_dump())).view()
    except SimulationError as exc:
        raise ControlError(422, str(exc)) from exc


@router.get("/scenarios")
def list_scenarios(rt: RuntimeDep) -> dict[str, Any]:
    now = rt.clock.now()
    return {"scenarios": [s.view() for s in rt.simulations.scenarios() if s.budget.live(now)]}


@router.delete("/scenarios")
def clear_scenarios(
    rt: RuntimeDep, client_id: Annotated[str | None, Query(alias="clientId")] = None
) -> dict[str, str]:
    rt.simulations.clear(client_id=client_id, faults=False)
    return {"status": "cleared"}


@router.post("/faults")
def add_fault(body: FaultIn, rt: RuntimeDep) -> dict[str, Any]:
    try:
        return rt.simulations.add(make_fault(now=rt.clock.now(), **body.model_dump())).view()
    except SimulationError as exc:
        raise ControlError(422, str(exc)) from exc


@router.get("/faults")
def list_faults(rt: RuntimeDep) -> dict[str, Any]:
    now = rt.clock.now()
    return {"faults": [f.view() for f in rt.simulations.faults() if f.budget.live(now)]}


@router.delete("/faults")
def clear_faults(
    rt: RuntimeDep, client_id: Annotated[str | None, Query(alias="clientId")] = None
) -> dict[str, str]:
    rt.simulations.clear(client_id=client_id, scenarios=False)
    return {"status": "cleared"}
