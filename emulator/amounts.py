"""Amount rules (spec §7): integer strings in the currency's smallest unit."""

from __future__ import annotations

import re
from decimal import Decimal

# ISO-4217 minor units of the currencies the gateway documents (spec §7, SDK amount rules),
# plus the in-store currencies seen in samples.
MINOR_UNITS: dict[str, int] = {
    "AUD": 2, "BDT": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "EUR": 2, "GBP": 2,
    "HKD": 2, "IDR": 2, "JPY": 0, "KRW": 0, "MOP": 2, "MXN": 2, "MYR": 2, "NZD": 2, "PEN": 2,
    "PHP": 2, "PKR": 2, "PLN": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "USD": 2, "VND": 0,
}  # fmt: skip

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_VALUE = re.compile(r"^[0-9]{1,16}$")


class AmountError(ValueError):
    """``field`` names the offending JSON field relative to the amount object."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def parse_amount(currency: str, value: str) -> tuple[str, int]:
    """Validate an Amount and return ``(currency, minor units)``."""
    if not _CURRENCY.match(currency):
        raise AmountError("currency", "must be an ISO-4217 alpha-3 code")
    if currency not in MINOR_UNITS:
        raise AmountError("currency", "is not a supported currency")
    if not _VALUE.match(value):
        raise AmountError("value", "must be a positive integer string of at most 16 digits")
    minor = int(value)
    if minor <= 0:
        raise AmountError("value", "must be greater than 0")
    if currency == "IDR" and minor % 100:
        raise AmountError("value", "must be a multiple of 100 for IDR")
    return currency, minor


def to_major(currency: str, minor: int) -> Decimal:
    return Decimal(minor).scaleb(-MINOR_UNITS.get(currency, 2))


def amount_dict(currency: str, minor: int) -> dict[str, str]:
    return {"currency": currency, "value": str(minor)}
