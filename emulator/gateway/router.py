"""HTTP side of the gateway: one route for every ``/ams/...`` path, one renderer for every answer.

Every answer is HTTP 200 with a signed JSON body (spec §1.1, §2.5, Appendix D), errors included,
except an oversized body (413) and the deliberate ``unsigned_auth_errors`` setting (§9 U2).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..clock import iso
from ..control.simulation import Fault, Scenario, SimulationError, parse_header
from ..errors import (
    AuthError,
    ForcedResult,
    GatewayError,
    MediaTypeNotAcceptable,
    MethodNotSupported,
    NoInterfaceDef,
    ParamIllegal,
)
from ..journal import Diagnosis, JournalEntry
from ..runtime import Runtime
from ..signing import canonical_message, sign, signature_header
from ..transport import drop_capability
from .auth import GatewayCall, authenticate
from .operations import Reply, api_of
from .wire import parse_body, validate

router = APIRouter(include_in_schema=False)

DIAGNOSIS_HEADER = "x-emulator-diagnosis"
# Test-only: selects a scenario or fault for this one call (the SDKs can send extra headers).
SCENARIO_HEADER = "x-emulator-scenario"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# The PHP SDK scans every header line for these words (Appendix D): keep them out.
_FORBIDDEN = re.compile(r"signature|response-time", re.IGNORECASE)


class BodyTooLarge(Exception):
    pass


class TransportFault(Exception):
    """A fault that answers at the transport level (an HTTP status, or nothing at all)."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.kind)
        self.fault = fault


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def received_call(request: Request) -> GatewayCall:
    """Route, method and media-type checks, then authentication (in a worker thread)."""
    rt = runtime_of(request)
    call = GatewayCall(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        # Header names are case-insensitive (spec §8 item 5); the first of duplicates wins.
        headers={k.lower(): v for k, v in reversed(request.headers.items())},
        started=time.perf_counter(),
    )
    call.client_id = call.headers.get("client-id", "")
    request.state.gateway_call = call
    call.api = api_of(call.path)
    if call.api is None or call.api not in rt.operations:
        raise NoInterfaceDef(diagnosis=f"no gateway API at {call.path}")
    if call.method != "POST":
        raise MethodNotSupported(diagnosis=f"{call.method} is not POST")
    content_types = request.headers.getlist("content-type")
    # The Go SDK sends two Content-Type lines (spec §2.1): one JSON type among them is enough.
    if content_types and not any("json" in ct.lower() for ct in content_types):
        raise MediaTypeNotAcceptable(diagnosis=f"content type {content_types[0]!r} is not JSON")
    call.body = await _read_body(request, rt.settings.max_body_bytes)
    name = rt.operations[call.api].name
    now = rt.clock.now()
    forced: Scenario | Fault | None = None
    if header := request.headers.get(SCENARIO_HEADER):
        try:
            forced = parse_header(header, now=now)
        except SimulationError as exc:
            raise ParamIllegal(SCENARIO_HEADER, str(exc)) from exc
    fault = (
        forced
        if isinstance(forced, Fault)
        else rt.simulations.take_fault(api=name, client_id=call.client_id, now=now)
    )
    if fault is not None:
        call.fault = fault
        if fault.kind == "latency":
            await asyncio.sleep(fault.ms / 1000)
        elif fault.kind in ("http_status", "no_response"):
            raise TransportFault(fault)
    await run_in_threadpool(authenticate, rt.db, rt.directory, call)
    scenario = (
        forced
        if isinstance(forced, Scenario)
        else rt.simulations.take_scenario(api=name, client_id=call.client_id, now=now)
    )
    if scenario is not None:
        raise ForcedResult(scenario.result_code, scenario.result_status)
    return call


@router.api_route("/ams/{rest:path}", methods=_METHODS)
async def gateway_call(
    request: Request, call: Annotated[GatewayCall, Depends(received_call)]
) -> Response:
    rt = runtime_of(request)
    reply = await run_in_threadpool(_dispatch, rt, call)
    if call.fault is not None and call.fault.kind == "drop_after_commit":
        return await drop(request, rt, call, reply.body, hold=0)
    if reply.drop:
        return await drop(request, rt, call, reply.body)
    return render(rt, call, reply.body)


def _dispatch(rt: Runtime, call: GatewayCall) -> Reply:
    assert call.api is not None and call.merchant is not None
    operation = rt.operations[call.api]
    model = validate(operation.request_model, parse_body(call.body))
    out = operation.handle(call.merchant, model)
    return out if isinstance(out, Reply) else Reply(out)


async def drop(
    request: Request,
    rt: Runtime,
    call: GatewayCall,
    body: dict[str, Any],
    *,
    hold: float | None = None,
) -> Response:
    """Hold the connection (past the client's timeout by default), then close it unanswered."""
    seconds = rt.settings.no_response_seconds if hold is None else hold
    call.diagnosis = call.diagnosis or Diagnosis(
        check="transport", message="the answer was withheld and the connection closed (deliberate)"
    )
    _journal(
        rt,
        call,
        body.get("result", {}),
        note=f"no answer: connection held {seconds:g} s, then closed",
    )
    await asyncio.sleep(seconds)
    close = drop_capability(request.scope)
    if close is not None:
        close()
    # Only reached for an app not run by `alipay-emulator serve` (no drop capability).
    return Response(status_code=504)


def render(
    rt: Runtime, call: GatewayCall, payload: dict[str, Any], *, signed: bool = True
) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    response_time = iso(rt.clock.now())
    headers = {"content-type": "application/json; charset=UTF-8", "client-id": call.client_id}
    if signed:
        message = canonical_message(
            method="POST", path=call.path, client_id=call.client_id, time=response_time, body=body
        )
        headers["response-time"] = response_time
        headers["signature"] = signature_header(sign(message, rt.alipay_key))
    result = payload.get("result", {})
    entry_id = _journal(rt, call, result)
    if call.diagnosis is not None:
        headers[DIAGNOSIS_HEADER] = _header_safe(
            f"{result.get('resultCode')} at the {call.diagnosis.check} check: "
            f"{call.diagnosis.message} (details: GET /_emulator/requests/{entry_id})"
        )
    return Response(content=body, status_code=200, headers=headers)


def render_error(request: Request, error: GatewayError) -> Response:
    rt = runtime_of(request)
    call: GatewayCall | None = getattr(request.state, "gateway_call", None)
    if call is None:
        call = GatewayCall(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            started=time.perf_counter(),
        )
        call.client_id = call.headers.get("client-id", "")
    if call.diagnosis is None:
        call.diagnosis = Diagnosis(check=_check_of(error), message=error.diagnosis)
    if isinstance(error, ForcedResult):
        call.diagnosis = Diagnosis(check="scenario", message="forced by error-scenario simulation")
    signed = not (isinstance(error, AuthError) and rt.settings.unsigned_auth_errors)
    return render(rt, call, {"result": error.result()}, signed=signed)


async def render_transport_fault(request: Request, exc: TransportFault) -> Response:
    rt = runtime_of(request)
    call: GatewayCall = request.state.gateway_call
    fault = exc.fault
    call.diagnosis = Diagnosis(check="transport", message=f"injected fault {fault.kind}")
    if fault.kind == "http_status":
        _journal(rt, call, {}, note=f"injected HTTP {fault.status}")
        return Response(
            content=json.dumps({"error": f"injected fault: HTTP {fault.status}"}).encode(),
            status_code=fault.status,
            headers={"content-type": "application/json; charset=UTF-8"},
        )
    return await drop(request, rt, call, {})


def render_too_large(request: Request) -> Response:
    rt = runtime_of(request)
    body = {
        "result": {
            "resultCode": "PARAM_ILLEGAL",
            "resultStatus": "F",
            "resultMessage": f"The request body exceeds {rt.settings.max_body_bytes} bytes.",
        }
    }
    return Response(
        content=json.dumps(body).encode(),
        status_code=413,
        headers={"content-type": "application/json; charset=UTF-8", "connection": "close"},
    )


def _check_of(error: GatewayError) -> str:
    return {
        "NO_INTERFACE_DEF": "route",
        "METHOD_NOT_SUPPORTED": "method",
        "MEDIA_TYPE_NOT_ACCEPTABLE": "media type",
        "PARAM_ILLEGAL": "body",
    }.get(error.code, "business")


def _header_safe(text: str) -> str:
    text = _FORBIDDEN.sub(
        lambda m: "sig" if m.group(0).lower() == "signature" else "resp time", text
    )
    return (
        text.encode("ascii", errors="replace").decode("ascii").replace("\r", " ").replace("\n", " ")
    )


def _journal(
    rt: Runtime, call: GatewayCall, result: dict[str, Any], *, note: str | None = None
) -> int:
    body_text = call.body[: 64 * 1024].decode("utf-8", errors="replace")
    return rt.journal.record(
        JournalEntry(
            id=0,
            time=iso(rt.clock.now()),
            client_id=call.client_id,
            method=call.method,
            path=call.path,
            headers=call.headers,
            body=body_text,
            result_code=result.get("resultCode"),
            result_status=result.get("resultStatus"),
            latency_ms=(time.perf_counter() - call.started) * 1000,
            diagnosis=call.diagnosis,
            extra={"transport": note} if note else {},
        )
    )
