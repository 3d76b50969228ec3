"""Error scenarios and transport faults: what the next gateway calls should suffer. No HTTP here.

A scenario answers a chosen result code (signed, no state change); a fault bends the transport:
latency, an HTTP status, no answer at all, or an answer lost after the work was committed; or
spoils the answer's signature (``RESPONSE_FAULTS``: the call is processed as usual, only the
answer's headers or bytes are wrong, so a client can prove it rejects a bad answer).
Both match on the API's short name (``pay``, ``inquiryPayment``, ... or ``*``) and optionally a
client ID, and last for ``count`` calls and/or ``minutes`` of the emulator clock.

With a database (``Simulations(db)``, as every running emulator has) they are rows shared by all
processes on it: each process keeps a copy for the hot path, reloaded when the world's
``simulations`` version changes (within half a second, at once in the process that changed it),
and a counted item is spent by one conditional UPDATE, so ``count=1`` fires once across all
processes. A fault's probability draw stays per process (its seeded sequence is reproducible
per process). Fields of a kind are kept as data (the row's ``spec``), whatever the kind.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, bindparam, delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from .. import world
from ..clock import as_utc, iso
from ..errors import CATALOGUE, ResultStatus, status_of
from ..storage import Database

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


class SimulationRow(SQLModel, table=True):
    """A scenario or fault shared by every process on the database."""

    __tablename__ = "simulation"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "scenario" | "fault"
    api: str = Field(max_length=32)
    client_id: str | None = Field(default=None, max_length=64)
    remaining: int | None = None
    until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    spec: str = "{}"  # the item's other fields, as JSON


_ROWS = SimulationRow.__table__  # type: ignore[attr-defined]
_SPEND = (
    update(_ROWS)
    .where(_ROWS.c.id == bindparam("i"), _ROWS.c.remaining > 0)
    .values(remaining=_ROWS.c.remaining - 1)
    .returning(_ROWS.c.remaining)
)
# Fields kept in columns (or rebuilt) rather than in the row's JSON spec.
_OWN_FIELDS = frozenset({"id", "api", "client_id", "budget", "rng"})


def _spec(item: Scenario | Fault) -> str:
    return json.dumps(
        {f.name: getattr(item, f.name) for f in dataclasses.fields(item) if f.name not in _OWN_FIELDS}
    )


def _from_row(row: SimulationRow) -> Scenario | Fault:
    until = as_utc(row.until) if row.until is not None else None
    budget = _Budget(row.remaining, until)
    spec = json.loads(row.spec)
    if row.kind == "scenario":
        return Scenario(int(row.id or 0), row.api, client_id=row.client_id, budget=budget, **spec)
    known = {f.name for f in dataclasses.fields(Fault)} - _OWN_FIELDS
    spec = {k: v for k, v in spec.items() if k in known}
    return Fault(
        int(row.id or 0),
        row.api,
        client_id=row.client_id,
        budget=budget,
        rng=random.Random(spec.get("seed")),
        **spec,
    )


class Simulations:
    """The registry; thread-safe, consumed by the gateway pipeline. ``db``: shared by processes."""

    def __init__(self, db: Database | None = None) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._scenarios: list[Scenario] = []
        self._faults: list[Fault] = []

    def add(self, item: Scenario | Fault) -> Scenario | Fault:
        """Register a scenario or fault made by ``make_scenario`` / ``make_fault``."""
        if self._db is not None:

            def work(session: Session) -> int:
                row = SimulationRow(
                    kind="scenario" if isinstance(item, Scenario) else "fault",
                    api=item.api,
                    client_id=item.client_id,
                    remaining=item.budget.remaining,
                    until=item.budget.until,
                    spec=_spec(item),
                )
                session.add(row)
                session.flush()
                world.bump(session, simulations=True)
                return int(row.id or 0)

            item.id = self._db.transaction(work)
        with self._lock:
            if self._db is None:
                item.id = next(self._ids)
            if isinstance(item, Scenario):
                self._scenarios.append(item)
            else:
                self._faults.append(item)
        return item

    def reload(self) -> None:
        """Replace this process's copy with the rows in the database."""
        if self._db is None:
            return
        with self._db.read() as session:
            items = [
                _from_row(r) for r in session.exec(select(SimulationRow).order_by(col(SimulationRow.id)))
            ]
        with self._lock:
            # Keep the objects already known (a fault's seeded draws go on where they were).
            mine: list[Scenario | Fault] = [*self._scenarios, *self._faults]
            known = {i.id: i for i in mine}
            for i, item in enumerate(items):
                old = known.get(item.id)
                if old is not None and type(old) is type(item):
                    old.budget = item.budget
                    items[i] = old
            self._scenarios = [i for i in items if isinstance(i, Scenario)]
            self._faults = [i for i in items if isinstance(i, Fault)]

    def _spend(self, item: Scenario | Fault) -> bool:
        """Use one call of the item's budget; False when another process used the last one."""
        if self._db is None or item.budget.remaining is None:
            with self._lock:
                item.budget.spend()
            return True
        with self._db.write_connection() as conn:
            row = conn.execute(_SPEND, {"i": item.id}).first()
        with self._lock:
            if row is None:
                item.budget.remaining = 0
                return False
            item.budget.remaining = int(row[0])
        return True

    def take_scenario(self, *, api: str, client_id: str, now: datetime) -> Scenario | None:
        with self._lock:
            self._scenarios = [s for s in self._scenarios if s.budget.live(now)]
            candidates = [
                s for s in self._scenarios if s.api in (api, "*") and s.client_id in (None, client_id)
            ]
        for s in candidates:
            if self._spend(s):
                return s
        return None

    def take_fault(self, *, api: str, client_id: str, now: datetime) -> Fault | None:
        with self._lock:
            self._faults = [f for f in self._faults if f.budget.live(now)]
            candidates = [f for f in self._faults if f.api in (api, "*") and f.client_id in (None, client_id)]
        for f in candidates:
            # The draw happens on every matching call, so a seeded fault is reproducible.
            with self._lock:
                hit = f.rng.random() < f.probability
            if not hit:
                return None
            if self._spend(f):
                return f
        return None

    def scenarios(self) -> list[Scenario]:
        self.reload()
        with self._lock:
            return list(self._scenarios)

    def faults(self) -> list[Fault]:
        self.reload()
        with self._lock:
            return list(self._faults)

    def remove(self, item_id: int) -> bool:
        """Remove one scenario or fault by id; False when there is none (or it ran out)."""
        return self.discard([item_id]) > 0

    def discard(self, ids: list[int]) -> int:
        """Remove these scenarios and faults, in every process; how many there were."""
        if not ids:
            return 0
        removed = 0
        if self._db is not None:

            def work(session: Session) -> int:
                result = session.execute(delete(SimulationRow).where(col(SimulationRow.id).in_(ids)))
                world.bump(session, simulations=True)
                return int(getattr(result, "rowcount", 0) or 0)

            removed = self._db.transaction(work)
        with self._lock:
            before = len(self._scenarios) + len(self._faults)
            self._scenarios = [s for s in self._scenarios if s.id not in ids]
            self._faults = [f for f in self._faults if f.id not in ids]
            mine = before - len(self._scenarios) - len(self._faults)
        return removed if self._db is not None else mine

    def clear(
        self,
        *,
        client_id: str | None = None,
        scenarios: bool = True,
        faults: bool = True,
        stored: bool = True,
    ) -> None:
        """Remove scenarios and/or faults (one application's, or all), in every process.

        ``stored=False``: the rows are gone already (a full reset deleted them and bumped the
        version in its transaction); only this process's copies are dropped.
        """
        if self._db is not None and stored:
            kinds = [k for k, on in (("scenario", scenarios), ("fault", faults)) if on]

            def work(session: Session) -> None:
                stmt = delete(SimulationRow).where(col(SimulationRow.kind).in_(kinds))
                if client_id is not None:
                    stmt = stmt.where(col(SimulationRow.client_id) == client_id)
                session.execute(stmt)
                world.bump(session, simulations=True)

            self._db.transaction(work)
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
