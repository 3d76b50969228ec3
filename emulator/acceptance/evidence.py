"""What a case is graded on: the application's calls, notifications and downloads, as plain data.

The service loads these for a case's window (everything after the case started); the rules in
``cases.py`` read them and nothing else, so they stay pure functions of the evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ..clock import GMT8
from ..gateway.operations import api_of
from ..journal import JournalEntry

RefKind = Literal["request", "notification", "download"]


@dataclass(frozen=True, slots=True)
class Ref:
    """One piece of evidence: a request-journal entry, an outbox notification, a download."""

    kind: RefKind
    id: int

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id}


@dataclass(frozen=True, slots=True)
class Call:
    """One gateway call of the application, as journaled: what it sent and what it was told."""

    id: int
    api: str  # pay, inquiryPayment, cancel, refund, inquiryRefund
    body: dict[str, Any]
    result_code: str | None
    result_status: str | None
    answer: dict[str, Any]

    @classmethod
    def of(cls, entry: JournalEntry) -> Call | None:
        api = api_of(entry.path)
        if api is None:
            return None
        try:
            body = json.loads(entry.body)
        except ValueError:
            body = {}
        answer = entry.extra.get("answer")
        return cls(
            id=entry.id,
            api=api.rsplit("/", 1)[-1],
            body=body if isinstance(body, dict) else {},
            result_code=entry.result_code,
            result_status=entry.result_status,
            answer=answer if isinstance(answer, dict) else {},
        )

    @property
    def ref(self) -> Ref:
        return Ref("request", self.id)

    @property
    def delivered(self) -> bool:
        """False when the emulator withheld the answer (the connection closed unanswered)."""
        return self.answer.get("delivered", True) is not False

    def field(self, *path: str) -> str | None:
        value: Any = self.body
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return value if isinstance(value, str) else None

    @property
    def request_id(self) -> str | None:
        return self.field("paymentRequestId") or _str(self.answer.get("paymentRequestId"))

    @property
    def payment_id(self) -> str | None:
        return self.field("paymentId") or _str(self.answer.get("paymentId"))

    @property
    def order_id(self) -> str | None:
        return self.field("order", "referenceOrderId")

    @property
    def scenario(self) -> str | None:
        return self.field("paymentFactor", "inStorePaymentScenario")

    @property
    def code(self) -> str | None:
        return self.field("paymentMethod", "paymentMethodId")

    @property
    def refund_request_id(self) -> str | None:
        return self.field("refundRequestId") or _str(self.answer.get("refundRequestId"))

    @property
    def amount(self) -> int | None:
        value = self.field("refundAmount", "value") or self.field("paymentAmount", "value")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def payment_status(self) -> str | None:
        return _str(self.answer.get("paymentStatus"))

    def told(self) -> str:
        """How the call was answered, in words for a reason text."""
        if not self.delivered:
            return "no answer (connection closed)"
        return f"{self.result_status} {self.result_code}" if self.result_code else "no result"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    http_status: int | None
    acknowledged: bool
    response_body: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Notice:
    """An outbox notification of the application, with its delivery attempts in order."""

    id: int
    kind: str
    payment_id: str | None
    attempts: tuple[Attempt, ...]

    @property
    def ref(self) -> Ref:
        return Ref("notification", self.id)

    @property
    def acknowledged(self) -> bool:
        return any(a.acknowledged for a in self.attempts)


@dataclass(frozen=True, slots=True)
class Download:
    id: int
    kind: str  # transactionItems | settlementItems | settlementSummary
    day: str  # yyyyMMdd (GMT+8)
    at: datetime
    channel: str

    @property
    def ref(self) -> Ref:
        return Ref("download", self.id)

    @property
    def of_closed_day(self) -> bool:
        """The day's cut-off (midnight GMT+8, spec §6.5) had passed when it was downloaded."""
        try:
            start = datetime.strptime(self.day, "%Y%m%d").replace(tzinfo=GMT8)
        except ValueError:
            return False
        return start + timedelta(days=1) <= self.at


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """What the database says about a payment now (to tell a paid order code from an unpaid one)."""

    payment_id: str
    payment_request_id: str
    amount: int
    status: str
    scanned: bool


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything one case may look at, loaded for its window; ``final`` at the run's finish."""

    calls: tuple[Call, ...] = ()
    notifications: tuple[Notice, ...] = ()
    downloads: tuple[Download, ...] = ()
    payments: dict[str, PaymentFacts] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    final: bool = False

    def after(self, call: Call) -> list[Call]:
        return [c for c in self.calls if c.id > call.id]

    def request_id_of(self, call: Call) -> str | None:
        """The paymentRequestId a call is about, also when it names the paymentId only."""
        if call.field("paymentRequestId"):
            return call.field("paymentRequestId")
        pid = call.payment_id
        if pid is not None and pid in self.payments:
            return self.payments[pid].payment_request_id
        for c in self.calls:
            if pid is not None and c.answer.get("paymentId") == pid and c.request_id:
                return c.request_id
        return call.request_id

    def refers(self, call: Call, request_id: str | None) -> bool:
        return request_id is not None and self.request_id_of(call) == request_id
