"""Validation straight from the received bytes answers exactly what parse-then-validate answers."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from emulator.errors import ParamIllegal
from emulator.gateway.wire import Rules, parse_body, validate, validate_body
from emulator.payments.api import PaymentLookup, PayRequest
from emulator.refunds.api import RefundRequest

from ..conftest import pay_body

PAY = json.dumps(pay_body("281234567890123456"), indent=3).encode()
BODIES = [
    b'{"paymentId":"P1"}',
    b'{"paymentId":"P1","paymentId":"P2"}',
    b'\xef\xbb\xbf{"paymentId":"P1"}',
    b'{"paymentId":"P\xff1"}',
    b'{"paymentId":"P1","x":NaN}',
    b'{"paymentId":"P1","x":Infinity}',
    b'{"paymentId":"P1","x":1e400}',
    b"[]",
    b"{}",
    b"",
    b'{"paymentId":12}',
    b'{"paymentId":12.0}',
    b'{"paymentId":12.5}',
    b'{"paymentId":true}',
    b'{"paymentId":"P1"} x',
    b'  {"paymentId":"P1"}\n',
    b'{"paymentId":"P1","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"paymentId":"P\x011"}',
    b'{"paymentId":"P\\u00001"}',
    b'{"paymentId":"P1\x7f"}',
    b'{"paymentId":"P1","x":01}',
    b'{"paymentId":"P1","x":[1,]}',
    b'{"paymentId":"P1","x":"\xed\xa0\x80"}',
    b'{"paymentId":"P1"}\x00',
    b'{"paymentRequestId":"a b"}',
    b'{"paymentId":"' + b"x" * 65 + b'"}',
    b'{"merchantAccountId":"M"}',
]


def _answer(outcome: BaseModel | ParamIllegal) -> object:
    return outcome.result() if isinstance(outcome, ParamIllegal) else outcome


def _both(model: type[BaseModel], raw: bytes, rules: Rules) -> tuple[object, object]:
    results = []
    for run in (lambda: validate(model, parse_body(raw), rules), lambda: validate_body(model, raw, rules)):
        try:
            results.append(_answer(run()))
        except ParamIllegal as exc:
            results.append(_answer(exc))
    return results[0], results[1]


@pytest.mark.parametrize("raw", BODIES)
def test_lookup_bodies(raw: bytes) -> None:
    before, now = _both(PaymentLookup, raw, Rules())
    assert now == before


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b,
        lambda b: b.replace(b'"productCode"', b'"productcode"'),
        lambda b: b.replace(b'"1000"', b"1000"),
        lambda b: b.replace(b'"1000"', b"10.5"),
        lambda b: b.replace(b'"PaymentCode"', b'"PAYMENTCODE"'),
        lambda b: b.replace(b'"PaymentCode"', b'"Nope"'),
        lambda b: b.replace(b'"PR-1"', b'"PR 1"'),
        lambda b: b.replace(b'"2026-11-26T10:00:00+08:00"', b'"2026-11-26 10:00"'),
        lambda b: b.replace(b'"http://', b'"ftp://'),
        lambda b: b.replace(b'"Shop"', b'"Sh\\nop"'),
        lambda b: b.replace(b'"Shop"', b'{"a": 1}'),
    ],
)
@pytest.mark.parametrize("rules", [Rules(), Rules(lenient_request_ids=True, lenient_datetimes=True)])
def test_pay_bodies(change: object, rules: Rules) -> None:
    raw = change(PAY)  # type: ignore[operator]
    before, now = _both(PayRequest, raw, rules)
    assert now == before


def test_refund_body() -> None:
    raw = b'{"refundRequestId":"R1","paymentId":"P1","refundAmount":{"currency":"USD","value":1}}'
    before, now = _both(RefundRequest, raw, Rules())
    assert now == before
    assert isinstance(now, RefundRequest)
