"""Identifier formats, derived deterministically from persistent sequence numbers.

Shapes follow the observed ids (spec §3.9): 35 characters, the GMT+8 date, then
``1140108001`` for payments or ``1140108013`` for refunds, then digits.
"""

from __future__ import annotations

from datetime import datetime

from .clock import GMT8

# Odd and not a multiple of 5, so n -> n * K mod 10^16 is a bijection: codes look random,
# never repeat, and need no random source.
_PAYMENT_CODE_MULTIPLIER = 6_364_136_223_846_793
_PAYMENT_CODE_OFFSET = 1_442_695_040_888_963


def payment_id(created: datetime, seq: int) -> str:
    return f"{created.astimezone(GMT8):%Y%m%d}1140108001{seq:017d}"


def refund_id(created: datetime, seq: int) -> str:
    return f"{created.astimezone(GMT8):%Y%m%d}1140108013{seq:017d}"


PAYMENT_CODE_DIGITS = range(16, 25)


def payment_code(seq: int, digits: int = 18) -> str:
    """``digits`` (16-24, default 18) starting ``28``: a valid Alipay payment code (spec §3.2).

    The multiplier is odd and not a multiple of 5, so the mix is a bijection modulo every power
    of ten: codes of one length never repeat, and codes of different lengths differ anyway.
    """
    if digits not in PAYMENT_CODE_DIGITS:
        raise ValueError("a payment code has 16 to 24 digits")
    space = 10 ** (digits - 2)
    mixed = (seq * _PAYMENT_CODE_MULTIPLIER + _PAYMENT_CODE_OFFSET) % space
    return f"28{mixed:0{digits - 2}d}"


def registration_id(created: datetime, seq: int) -> str:
    """The emulator's own handle of a merchant registration (the gateway answers none)."""
    return f"{created.astimezone(GMT8):%Y%m%d}1140108020{seq:012d}"


def is_payment_code_syntax(code: str) -> bool:
    """16-24 digits starting 25-30 (spec §3.2 'Payment code specifications')."""
    return code.isascii() and code.isdigit() and 16 <= len(code) <= 24 and 25 <= int(code[:2]) <= 30
