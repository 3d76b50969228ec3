"""Amount rules (spec §7)."""

from __future__ import annotations

import pytest

from emulator.amounts import AmountError, parse_amount, to_major


@pytest.mark.parametrize(
    ("currency", "value", "field"),
    [
        ("usd", "1", "currency"),
        ("XYZ", "1", "currency"),
        ("USD", "0", "value"),
        ("USD", "1.5", "value"),
        ("USD", "-1", "value"),
        ("USD", "1" * 17, "value"),
        ("IDR", "150", "value"),
    ],
)
def test_invalid_amounts_name_the_field(currency: str, value: str, field: str) -> None:
    with pytest.raises(AmountError) as err:
        parse_amount(currency, value)
    assert err.value.field == field


def test_minor_units() -> None:
    assert parse_amount("JPY", "500") == ("JPY", 500)
    assert parse_amount("IDR", "10000") == ("IDR", 10000)
    assert str(to_major("USD", 1450)) == "14.50"
    assert str(to_major("JPY", 1450)) == "1450"
    assert str(to_major("KRW", 9000)) == "9000"
