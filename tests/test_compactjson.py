"""emulator.compactjson writes what json.dumps(ensure_ascii=False, compact) would: the same
text, but for floats (the same number, perhaps written differently: 0.0000625 for 6.25e-05)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import compactjson

_EXACT = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)  # past 64 bits too: json's answer
    | st.text()  # every code point, lone surrogates and control characters included
)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )


_VALUES = _nested(_EXACT)


def _standard(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_text_is_what_json_writes(value: Any) -> None:
    assert compactjson.dumps_text(value) == _standard(value)


@settings(max_examples=200, deadline=None)
@given(_nested(_EXACT | _FINITE))
def test_floats_are_the_same_numbers(value: Any) -> None:
    assert json.loads(compactjson.dumps_text(value)) == json.loads(_standard(value))


@settings(max_examples=200, deadline=None)
@given(_VALUES)
def test_the_bytes_are_jsons_in_utf8_or_the_same_error(value: Any) -> None:
    try:
        expected: bytes | type[Exception] = _standard(value).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: json's text cannot be UTF-8 either
        expected = UnicodeEncodeError
    if expected is UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            compactjson.dumps(value)
    else:
        assert compactjson.dumps(value) == expected


@dataclass
class _Nested:
    name: str
    count: int


def test_dataclasses_and_defaults_and_what_is_not_json() -> None:
    def plain(value: object) -> Any:
        if isinstance(value, _Nested):
            return {"name": value.name, "count": value.count}
        raise TypeError(f"{type(value).__name__} is not JSON")

    value = {"n": _Nested("x", 2), 3: "int key"}
    assert compactjson.dumps_text(value, default=plain) == '{"n":{"name":"x","count":2},"3":"int key"}'
    with pytest.raises(TypeError, match="not JSON"):
        compactjson.dumps({"odd": object()}, default=plain)
    with pytest.raises(TypeError):
        compactjson.dumps_text({"odd": object()})


def test_a_gateway_answer_is_byte_for_byte_the_same() -> None:
    answer = {
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "paymentId": "20261205114010800100000000000000001",
        "paymentAmount": {"currency": "JPY", "value": "100"},
        "pspCustomerInfo": {"pspName": "ALIPAY_CN", "displayCustomerId": "bra***@例え.jp"},
    }
    assert compactjson.dumps(answer) == _standard(answer).encode("utf-8")
