"""HTTP side of the gateway: a plain ASGI app for every ``/ams/...`` path, one renderer for every answer.

Every answer is HTTP 200 with a signed JSON body (spec §1.1, §2.5, Appendix D), errors included,
except an oversized body (413), deliberate transport and response-signature faults, and
authentication errors, unsigned by default like production (§9 U2, ``unsigned_auth_errors``).
The gateway bypasses FastAPI's routing and dependency machinery: it is the hot path. The
synchronous part of a call (authenticate, dispatch, build the answer) runs inline on SQLite and in
one worker-thread hop on a network database. The answer's signature is always made off the event
loop: on SQLite on the runtime's signing threads (``signer.py``, then the answer is finished on
the loop), on a network database on that same worker thread; only a deliberate response fault
signs inline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from .. import compactjson
from ..clock import iso
from ..control.simulation import RESPONSE_FAULTS, Fault, Scenario, SimulationError, parse_header
from ..errors import (
    AuthError,
    ForcedResult,
    GatewayError,
    MediaTypeNotAcceptable,
    MethodNotSupported,
    NoInterfaceDef,
    ParamIllegal,
    UnknownException,
)
from ..journal import MAX_BODY_CHARS, Diagnosis, JournalEntry
from ..runtime import Runtime
from ..signing import canonical_message, sign, signature_header
from ..transport import drop_capability
from .auth import GatewayCall, authenticate
from .operations import Reply, api_of
from .wire import Rules, validate_body

log = logging.getLogger("emulator")

DIAGNOSIS_HEADER = "x-emulator-diagnosis"
# Test-only: selects a scenario or fault for this one call (the SDKs can send extra headers).
SCENARIO_HEADER = "x-emulator-scenario"
# The PHP SDK scans every header line for these words (Appendix D): keep them out.
_FORBIDDEN = re.compile(r"signature|response-time", re.IGNORECASE)
_JSON = b"application/json; charset=UTF-8"


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Withheld:
    """No answer: hold the connection ``hold`` seconds (default: past client timeouts), close it."""

    body: dict[str, Any]
    hold: float | None = None


@dataclass(frozen=True, slots=True)
class Unsigned:
    """An answer waiting for its signature: sign ``message`` with ``key``, then ``finish`` it."""

    message: bytes
    key: rsa.RSAPrivateKey
    finish: Callable[[str], Answer]


Outcome = Answer | Withheld | Unsigned


def signed_here(outcome: Outcome) -> Answer | Withheld:
    """Sign on this thread (one that is off the event loop already) and finish the answer."""
    if isinstance(outcome, Unsigned):
        return outcome.finish(sign(outcome.message, outcome.key))
    return outcome


class GatewayApp:
    """The ASGI app serving ``/ams/...``; ``runtime`` gives the process's ``Runtime``."""

    def __init__(self, runtime: Callable[[Scope], Runtime]) -> None:
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self._runtime(scope)
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        # Header names are case-insensitive (spec §8 item 5); the first of duplicates wins.
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(raw_headers)}
        call = GatewayCall(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            started=time.perf_counter(),
        )
        call.client_id = headers.get("client-id", "")
        content_types = [v.decode("latin-1") for k, v in raw_headers if k.lower() == b"content-type"]
        try:
            outcome = await self._handle(rt, call, content_types, receive)
        except BodyTooLarge:
            outcome = too_large(rt)
        if isinstance(outcome, Unsigned):
            outcome = outcome.finish(await rt.signer.sign(outcome.message, outcome.key))
        if isinstance(outcome, Withheld):
            await withhold(scope, rt, call, outcome)
            outcome = Answer(504, [], b"")  # only reached without `alipay-emulator serve`
        out_headers = [*outcome.headers, (b"content-length", str(len(outcome.body)).encode())]
        await send({"type": "http.response.start", "status": outcome.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": outcome.body})

    async def _handle(
        self, rt: Runtime, call: GatewayCall, content_types: list[str], receive: Receive
    ) -> Outcome:
        forced: Scenario | Fault | None = None
        try:
            call.api = api_of(call.path)
            if call.api is None or call.api not in rt.operations:
                raise NoInterfaceDef(diagnosis=f"no gateway API at {call.path}")
            if call.method != "POST":
                raise MethodNotSupported(diagnosis=f"{call.method} is not POST")
            # The Go SDK sends two Content-Type lines (spec §2.1): one JSON type is enough.
            if content_types and not any("json" in ct.lower() for ct in content_types):
                raise MediaTypeNotAcceptable(diagnosis=f"content type {content_types[0]!r} is not JSON")
            call.body = await read_body(receive, call.headers, rt.settings.max_body_bytes)
            now = rt.clock.now()
            if header := call.headers.get(SCENARIO_HEADER):
                try:
                    forced = parse_header(header, now=now)
                except SimulationError as exc:
                    raise ParamIllegal(SCENARIO_HEADER, str(exc)) from exc
            name = rt.operations[call.api].name
            fault = (
                forced
                if isinstance(forced, Fault)
                else rt.simulations.take_fault(api=name, client_id=call.client_id, now=now)
            )
        except GatewayError as error:
            return await run_in_threadpool(_signed_error, rt, call, error)
        if fault is not None:
            call.fault = fault
            call.diagnosis = Diagnosis(check="transport", message=f"injected fault {fault.kind}")
            if fault.kind == "latency":
                await asyncio.sleep(fault.ms / 1000)
            elif fault.kind == "http_status":
                _journal(rt, call, {}, note=f"injected HTTP {fault.status}")
                body = json.dumps({"error": f"injected fault: HTTP {fault.status}"}).encode()
                return Answer(fault.status, [(b"content-type", _JSON)], body)
            elif fault.kind == "no_response":
                return Withheld({})
        scenario = forced if isinstance(forced, Scenario) else None
        if rt.db.dialect == "sqlite":
            # In-process SQLite answers in well under a millisecond: running inline beats a
            # worker-thread hop (measured with bench/gateway.py). Network databases get a thread.
            return process(rt, call, scenario)
        # Signed on the same worker thread: it is off the event loop already.
        return await run_in_threadpool(_signed_process, rt, call, scenario)


def _signed_process(rt: Runtime, call: GatewayCall, forced: Scenario | None) -> Answer | Withheld:
    return signed_here(process(rt, call, forced))


def _signed_error(rt: Runtime, call: GatewayCall, error: GatewayError) -> Answer | Withheld:
    return signed_here(render_error(rt, call, error))


def process(rt: Runtime, call: GatewayCall, forced: Scenario | None) -> Outcome:
    """The synchronous part of a call: authenticate, scenario, dispatch, the answer to sign."""
    try:
        merchant = authenticate(rt.db, rt.directory, call)
        assert call.api is not None
        operation = rt.operations[call.api]
        scenario = forced or rt.simulations.take_scenario(
            api=operation.name, client_id=call.client_id, now=rt.clock.now()
        )
        if scenario is not None:
            raise ForcedResult(scenario.result_code, scenario.result_status)
        rules = Rules(
            lenient_request_ids=rt.settings.lenient_request_ids,
            lenient_datetimes=rt.settings.lenient_datetimes,
        )
        model = validate_body(operation.request_model, call.body, rules)
        out = operation.handle(merchant, model)
        reply = out if isinstance(out, Reply) else Reply(out)
        call.notes.update(reply.notes)
    except GatewayError as error:
        return render_error(rt, call, error)
    except Exception as exc:
        # A bug must still not break the SDKs' contract: answer U (retry/inquire), log loudly.
        log.exception("unexpected error on %s %s", call.method, call.path)
        return render_error(rt, call, UnknownException(diagnosis=f"internal error: {exc!r}"))
    if call.fault is not None and call.fault.kind == "drop_after_commit":
        return Withheld(reply.body, hold=0)
    if reply.drop:
        return Withheld(reply.body)
    return render(rt, call, reply.body)


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def withhold(scope: Scope, rt: Runtime, call: GatewayCall, withheld: Withheld) -> None:
    """Hold the connection, then close it without an answer (trigger 9902, faults)."""
    seconds = rt.settings.no_response_seconds if withheld.hold is None else withheld.hold
    call.diagnosis = call.diagnosis or Diagnosis(
        check="transport", message="the answer was withheld and the connection closed (deliberate)"
    )
    note = f"no answer: connection held {seconds:g} s, then closed"
    _journal(rt, call, withheld.body.get("result", {}), note=note, payload=withheld.body, delivered=False)
    await asyncio.sleep(seconds)
    close = drop_capability(scope)
    if close is not None:
        close()


def render(
    rt: Runtime, call: GatewayCall, payload: dict[str, Any], *, signed: bool = True
) -> Answer | Unsigned:
    """The answer to ``call``; a signed one comes back ``Unsigned``, to be signed and finished."""
    body = compactjson.dumps(payload)
    client_id = call.client_id
    headers = [
        (b"content-type", _JSON),
        (b"client-id", client_id.encode("latin-1", errors="replace")),
    ]
    spoil = call.fault.kind if call.fault is not None and call.fault.kind in RESPONSE_FAULTS else None
    if spoil is not None:
        body, signing = spoiled(rt, call, payload, body, spoil)
        headers += signing
        call.notes["responseFault"] = spoil
    elif signed:
        response_time = iso(rt.clock.now())
        message = canonical_message(
            method="POST", path=call.path, client_id=client_id, time=response_time, body=body
        )
        headers.append((b"response-time", response_time.encode()))
        finish = partial(_finish, rt, call, payload, headers, body)
        return Unsigned(message, rt.alipay_key_for(client_id), finish)
    else:
        call.notes["signing"] = (
            "unsigned: authentication errors are answered without signature headers, like production (ALIPAY_EMULATOR_UNSIGNED_AUTH_ERRORS)"
        )
    return _finish(rt, call, payload, headers, body, None)


def _finish(
    rt: Runtime,
    call: GatewayCall,
    payload: dict[str, Any],
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    signature: str | None,
) -> Answer:
    """Journal the answer as sent (with its signature, if any) and add the diagnosis header."""
    if signature is not None:
        headers.append((b"signature", signature_header(signature).encode()))
    result = payload.get("result", {})
    # The answer as sent, for the console's request detail (headers before the diagnosis one).
    sent = (
        {
            "httpStatus": 200,
            "headers": {k.decode(): v.decode("latin-1") for k, v in headers},
            "body": body[:MAX_BODY_CHARS].decode("utf-8", errors="replace"),
        }
        if rt.journal.enabled
        else None
    )
    entry_id = _journal(rt, call, result, response=sent, payload=payload)
    if call.diagnosis is not None:
        text = (
            f"{result.get('resultCode')} at the {call.diagnosis.check} check: "
            f"{call.diagnosis.message} (details: GET /_emulator/requests/{entry_id})"
        )
        headers.append((DIAGNOSIS_HEADER.encode(), _header_safe(text).encode()))
    return Answer(200, headers, body)


def spoiled(
    rt: Runtime, call: GatewayCall, payload: dict[str, Any], body: bytes, kind: str
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and signature headers of a response-signature fault (issue #12 item 9)."""
    response_time = iso(rt.clock.now())

    def signature_of(data: bytes) -> str:
        message = canonical_message(
            method="POST", path=call.path, client_id=call.client_id, time=response_time, body=data
        )
        return sign(message, rt.alipay_key_for(call.client_id))

    time_header = (b"response-time", response_time.encode())
    if kind == "unsigned_success":
        return body, []
    if kind == "response_time_only":
        return body, [time_header]
    if kind == "signature_only":
        return body, [(b"signature", signature_header(signature_of(body)).encode())]
    if kind == "wrong_key_version":
        return body, [time_header, (b"signature", signature_header(signature_of(body), "2").encode())]
    if kind == "signature_tampered":
        # A real RSA signature of the right length, over other bytes: well formed, never verifies.
        return body, [time_header, (b"signature", signature_header(signature_of(body + b" ")).encode())]
    # body_tampered_after_signing: sign the true body, send a changed one.
    signature = signature_of(body)
    return _tampered(payload), [time_header, (b"signature", signature_header(signature).encode())]


def _tampered(payload: dict[str, Any]) -> bytes:
    """The payload with its amount raised by one minor unit (or, without one, its message)."""
    changed = json.loads(json.dumps(payload))
    for key in ("paymentAmount", "refundAmount"):
        amount = changed.get(key)
        if isinstance(amount, dict) and str(amount.get("value", "")).isdigit():
            amount["value"] = str(int(amount["value"]) + 1)
            break
    else:
        result = changed.setdefault("result", {})
        result["resultMessage"] = f"{result.get('resultMessage', '')} (tampered)"
    return compactjson.dumps(changed)


def render_error(rt: Runtime, call: GatewayCall, error: GatewayError) -> Answer | Unsigned:
    if isinstance(error, ForcedResult):
        call.diagnosis = Diagnosis(check="scenario", message="forced by error-scenario simulation")
    elif call.diagnosis is None or call.diagnosis.check == "transport":
        call.diagnosis = Diagnosis(check=_check_of(error), message=error.diagnosis)
    signed = not (isinstance(error, AuthError) and rt.settings.unsigned_auth_errors)
    return render(rt, call, {"result": error.result()}, signed=signed)


def too_large(rt: Runtime) -> Answer:
    body = {
        "result": {
            "resultCode": "PARAM_ILLEGAL",
            "resultStatus": "F",
            "resultMessage": f"The request body exceeds {rt.settings.max_body_bytes} bytes.",
        }
    }
    headers = [(b"content-type", _JSON), (b"connection", b"close")]
    return Answer(413, headers, json.dumps(body).encode())


def _check_of(error: GatewayError) -> str:
    return {
        "NO_INTERFACE_DEF": "route",
        "METHOD_NOT_SUPPORTED": "method",
        "MEDIA_TYPE_NOT_ACCEPTABLE": "media type",
        "PARAM_ILLEGAL": "body",
    }.get(error.code, "business")


def _header_safe(text: str) -> str:
    text = _FORBIDDEN.sub(lambda m: "sig" if m.group(0).lower() == "signature" else "resp time", text)
    return text.encode("ascii", errors="replace").decode("ascii").replace("\r", " ").replace("\n", " ")


def _log_call(call: GatewayCall, result: dict[str, Any], note: str | None) -> None:
    """One info line per gateway call: who, which API, the result, how long, why refused."""
    if not log.isEnabledFor(logging.INFO):
        return
    code = result.get("resultCode") or "-"
    latency = (time.perf_counter() - call.started) * 1000
    reason = None
    if call.diagnosis is not None and result.get("resultStatus") != "S":
        reason = f"{call.diagnosis.check} check: {call.diagnosis.message}"
    if note:
        reason = f"{reason}; {note}" if reason else note
    api = (call.api or call.path).removeprefix("payments/")
    log.info(
        "gateway %s %s %s %.1f ms%s",
        call.client_id or "-",
        api,
        code,
        latency,
        f": {_header_safe(reason)}" if reason else "",
        extra={
            "clientId": call.client_id,
            "api": api,
            "resultCode": code,
            "latencyMs": round(latency, 3),
            "reason": reason,
        },
    )


# What the answer said about the payment or refund, kept in the journal entry (``answer``):
# acceptance grading reads what the integration was told, not only the result code.
_ANSWER_FIELDS = (
    "paymentRequestId",
    "paymentId",
    "paymentStatus",
    "paymentResultCode",
    "refundRequestId",
    "refundId",
    "refundStatus",
)


def _journal(
    rt: Runtime,
    call: GatewayCall,
    result: dict[str, Any],
    *,
    note: str | None = None,
    response: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    delivered: bool = True,
) -> int:
    _log_call(call, result, note)
    if not rt.journal.enabled:
        return 0
    extra: dict[str, Any] = {**call.notes, **({"transport": note} if note else {})}
    if response is not None:
        extra["response"] = response
    answer = (
        {k: payload[k] for k in _ANSWER_FIELDS if isinstance((payload or {}).get(k), str)} if payload else {}
    )
    if answer or not delivered:
        extra["answer"] = {**answer, "delivered": delivered}
    entry = JournalEntry(
        id=0,
        time=iso(rt.clock.now()),
        client_id=call.client_id,
        method=call.method,
        path=call.path,
        headers=call.headers,
        body=call.body[:MAX_BODY_CHARS].decode("utf-8", errors="replace"),
        result_code=result.get("resultCode"),
        result_status=result.get("resultStatus"),
        latency_ms=(time.perf_counter() - call.started) * 1000,
        diagnosis=call.diagnosis,
        extra=extra,
    )
    entry_id = rt.journal.record(entry)
    for hook in rt.call_hooks:
        try:
            hook(entry)
        except Exception:  # a hook must never break the gateway's answer
            log.exception("gateway call hook %r failed", hook)
    return entry_id
