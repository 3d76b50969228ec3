"""Error scenarios and transport faults: what the next gateway calls should suffer. No HTTP here.

A scenario answers a chosen result code (signed, no state change); a fault bends the transport:
latency, an HTTP status, no answer at all, or an answer lost after the work was committed; or
spoils the answer's signature (``RESPONSE_FAULTS``: the call is processed as usual, only the
answer's headers or bytes are wrong, so a client can prove it rejects a bad answer).
Both match on the API's short name (``pay``, ``inquiryPayment``, ... or ``*``) and optionally a
client ID, and last for ``count`` calls and/or ``minutes`` of the emulator clock.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import iso
from ..errors import CATALOGUE, ResultStatus, status_of

API_NAMES = (
    "pay",
    "inquiryPayment",
    "cancel",
    "refund",
    "inquiryRefund",
    "registration",
    "inquiryRegistrationStatus",
    "inquiryRegistrationInfo",
    "*",
)
# Response-signature faults (issue #12), applied by the gateway's renderer:
#   signature_tampered           valid header shape, signature that does not verify
#   unsigned_success             no signature and no response-time header
#   signature_only               the signature header without response-time
#   response_time_only           response-time without the signature header
#   wrong_key_version            a valid signature whose header names keyVersion=2
#   body_tampered_after_signing  signed, then the body changed (an amount or the message)
RESPONSE_FAULTS: tuple[str, ...] = (
    "signature_tampered",
    "unsigned_success",
    "signature_only",
    "response_time_only",
    "wrong_key_version",
    "body_tampered_after_signing",
)
FAULT_KINDS: tuple[str, ...] = (
    "latency",
    "http_status",
    "no_response",
    "drop_after_commit",
    *RESPONSE_FAULTS,
)


class SimulationError(ValueError):
    pass


@dataclass
class _Budget:
    remaining: int | None
    until: datetime | None

    def live(self, now: datetime) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.remaining is None or self.remaining > 0

    def spend(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1


@dataclass
class Scenario:
    id: int
    api: str
    result_code: str
    result_status: ResultStatus
    client_id: str | None
    budget: _Budget

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "resultCode": self.result_code,
            "resultStatus": self.result_status,
            "clientId": self.client_id,
            "remaining": self.budget.remaining,
            "until": iso(self.budget.until) if self.budget.until else None,
        }


@dataclass
class Fault:
    id: int
    api: str
    kind: str
    client_id: str | None
    budget: _Budget
    ms: int = 0
    status: int = 503
    probability: float = 1.0
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "kind": self.kind,
            "ms": self.ms,
            "status": self.status,
            "probability": self.probability,
            "seed": self.seed,
            "clientId": self.client_id,
            "remaining": self.budget.remaining,
            "until": iso(self.budget.until) if self.budget.until else None,
        }


def _budget(count: int | None, minutes: float | None, now: datetime) -> _Budget:
    if count is not None and count < 1:
        raise SimulationError("count must be at least 1")
    if minutes is not None and minutes <= 0:
        raise SimulationError("minutes must be positive")
    if count is None and minutes is None:
        count = 1
    until = now + timedelta(minutes=minutes) if minutes is not None else None
    return _Budget(count, until)


def _check_api(api: str) -> None:
    if api not in API_NAMES:
        raise SimulationError(f"api must be one of {', '.join(API_NAMES)}")


class Simulations:
    """The registry; thread-safe, consumed by the gateway pipeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._scenarios: list[Scenario] = []
        self._faults: list[Fault] = []

    def add(self, item: Scenario | Fault) -> Scenario | Fault:
        """Register a scenario or fault made by ``make_scenario`` / ``make_fault``."""
        with self._lock:
            item.id = next(self._ids)
            if isinstance(item, Scenario):
                self._scenarios.append(item)
            else:
                self._faults.append(item)
        return item

    def take_scenario(self, *, api: str, client_id: str, now: datetime) -> Scenario | None:
        with self._lock:
            self._scenarios = [s for s in self._scenarios if s.budget.live(now)]
            for s in self._scenarios:
                if s.api in (api, "*") and s.client_id in (None, client_id):
                    s.budget.spend()
                    return s
        return None

    def take_fault(self, *, api: str, client_id: str, now: datetime) -> Fault | None:
        with self._lock:
            self._faults = [f for f in self._faults if f.budget.live(now)]
            for f in self._faults:
                if f.api in (api, "*") and f.client_id in (None, client_id):
                    # The draw happens on every matching call, so a seeded fault is reproducible.
                    if f.rng.random() < f.probability:
                        f.budget.spend()
                        return f
                    return None
        return None

    def scenarios(self) -> list[Scenario]:
        with self._lock:
            return list(self._scenarios)

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def remove(self, item_id: int) -> bool:
        """Remove one scenario or fault by id; False when there is none (or it ran out)."""
        with self._lock:
            before = len(self._scenarios) + len(self._faults)
            self._scenarios = [s for s in self._scenarios if s.id != item_id]
            self._faults = [f for f in self._faults if f.id != item_id]
            return len(self._scenarios) + len(self._faults) < before

    def discard(self, ids: list[int]) -> None:
        """Remove these scenarios and faults (acceptance disarms what a finished case armed)."""
        with self._lock:
            self._scenarios = [s for s in self._scenarios if s.id not in ids]
            self._faults = [f for f in self._faults if f.id not in ids]

    def clear(self, *, client_id: str | None = None, scenarios: bool = True, faults: bool = True) -> None:
        with self._lock:
            if scenarios:
                self._scenarios = [
                    s for s in self._scenarios if client_id is not None and s.client_id != client_id
                ]
            if faults:
                self._faults = [f for f in self._faults if client_id is not None and f.client_id != client_id]


def make_scenario(
    *,
    api: str,
    result_code: str,
    now: datetime,
    result_status: str | None = None,
    count: int | None = None,
    minutes: float | None = None,
    client_id: str | None = None,
) -> Scenario:
    _check_api(api)
    if result_code not in CATALOGUE and result_status is None:
        raise SimulationError(f"{result_code} is not a documented result code: give resultStatus too")
    status = result_status or status_of(result_code)
    if status not in ("S", "F", "U"):
        raise SimulationError("resultStatus must be S, F or U")
    return Scenario(0, api, result_code, status, client_id, _budget(count, minutes, now))  # type: ignore[arg-type]


def make_fault(
    *,
    api: str,
    kind: str,
    now: datetime,
    ms: int | None = None,
    status: int | None = None,
    count: int | None = None,
    minutes: float | None = None,
    probability: float | None = None,
    seed: int | None = None,
    client_id: str | None = None,
) -> Fault:
    _check_api(api)
    if kind not in FAULT_KINDS:
        raise SimulationError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    if kind == "latency" and (ms is None or not 0 < ms <= 120_000):
        raise SimulationError("latency needs ms between 1 and 120000")
    code = 503 if status is None else status
    if kind == "http_status" and not 400 <= code <= 599:
        raise SimulationError("status must be a 4xx or 5xx HTTP status")
    p = 1.0 if probability is None else probability
    if not 0 < p <= 1:
        raise SimulationError("probability must be in (0, 1]")
    return Fault(
        0,
        api,
        kind,
        client_id,
        _budget(count, minutes, now),
        ms=ms or 0,
        status=code,
        probability=p,
        seed=seed,
        rng=random.Random(seed),
    )


def parse_header(value: str, *, now: datetime) -> Scenario | Fault:
    """``X-Emulator-Scenario: resultCode=USER_BALANCE_NOT_ENOUGH`` or ``fault=latency;ms=500``."""
    fields: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if not sep:
            raise SimulationError(f"X-Emulator-Scenario: {part.strip()!r} is not name=value")
        fields[name.strip()] = val.strip()
    if "resultCode" in fields:
        return make_scenario(
            api="*",
            result_code=fields["resultCode"],
            result_status=fields.get("resultStatus"),
            now=now,
        )
    if "fault" in fields:
        return make_fault(
            api="*",
            kind=fields["fault"],
            now=now,
            ms=int(fields["ms"]) if fields.get("ms", "").isdigit() else None,
            status=int(fields["status"]) if fields.get("status", "").isdigit() else None,
        )
    raise SimulationError("X-Emulator-Scenario needs resultCode=... or fault=...")
