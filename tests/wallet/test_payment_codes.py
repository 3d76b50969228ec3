"""Payment codes of every length a wallet shows (spec §3.2: 16-24 digits, prefix 25-30)."""

from __future__ import annotations

import pytest

from emulator import ids

from ..conftest import Gateway, pay_body


@pytest.mark.parametrize("digits", list(ids.PAYMENT_CODE_DIGITS))
def test_every_length_is_valid_and_unique(digits: int) -> None:
    codes = {ids.payment_code(n, digits) for n in range(1, 2001)}
    assert len(codes) == 2000
    assert all(len(c) == digits and c.startswith("28") and ids.is_payment_code_syntax(c) for c in codes)


def test_lengths_outside_16_to_24_are_refused() -> None:
    with pytest.raises(ValueError, match="16 to 24"):
        ids.payment_code(1, 25)


def test_a_24_digit_code_pays(gateway: Gateway) -> None:
    login = gateway.buyer()["loginId"]
    issued = gateway.http.post(f"/_emulator/buyers/{login}/payment-codes", json={"digits": 24})
    assert issued.status_code == 200, issued.text
    code = issued.json()["paymentCode"]
    assert len(code) == 24
    body = pay_body(code, request_id="PR-24")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    answer = gateway.call("pay", body)
    assert answer["result"]["resultStatus"] == "S", answer


def test_default_is_18_digits_and_bad_digits_name_the_field(gateway: Gateway) -> None:
    login = gateway.buyer()["loginId"]
    assert len(gateway.http.post(f"/_emulator/buyers/{login}/payment-codes").json()["paymentCode"]) == 18
    bad = gateway.http.post(f"/_emulator/buyers/{login}/payment-codes", json={"digits": 30})
    assert bad.status_code == 422 and "digits" in bad.text
