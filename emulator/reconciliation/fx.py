"""Fixed FX quotes for settlement in another currency (spec §6.4 ``quoteCurrencyPair``/``quotePrice``).

A quote ``USD/KRW=1200`` reads "1 USD = 1200 KRW", as in the sample row where 18000 KRW settles
as 15.00 USD less the fee. The emulator has no real FX: quotes are fixed by configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ..amounts import MINOR_UNITS, amount_dict

_PAIR = re.compile(r"^([A-Z]{3})/([A-Z]{3})$")


class QuoteError(ValueError):
    """A malformed or missing quote; the message names ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES."""


@dataclass(frozen=True, slots=True)
class Quote:
    base: str
    quote: str
    price: Decimal
    text: str  # the price exactly as configured, for the quotePrice column

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


def parse_quotes(spec: str) -> dict[tuple[str, str], Quote]:
    """Parse ``"USD/JPY=150,USD/HKD=7.8"``; unknown currencies and non-positive prices fail."""
    quotes: dict[tuple[str, str], Quote] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        pair, sep, price_text = item.partition("=")
        match = _PAIR.match(pair.strip())
        if not sep or match is None:
            raise QuoteError(f"ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES: {item!r} is not BASE/QUOTE=price")
        base, quote = match.groups()
        for ccy in (base, quote):
            if ccy not in MINOR_UNITS:
                raise QuoteError(f"ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES: unknown currency {ccy}")
        try:
            price = Decimal(price_text.strip())
        except InvalidOperation as exc:
            raise QuoteError(
                f"ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES: {item!r}: price is not a number"
            ) from exc
        if not price.is_finite() or price <= 0 or base == quote:
            raise QuoteError(
                f"ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES: {item!r}: needs two currencies and a price > 0"
            )
        quotes[(base, quote)] = Quote(base, quote, price, price_text.strip())
    return quotes


@dataclass(frozen=True, slots=True)
class Conversion:
    """Transaction currency -> settlement currency, in minor units, rounded half-up."""

    source: str
    target: str
    quote: Quote | None

    def convert(self, minor: int) -> int:
        if self.quote is None:
            return minor
        major = Decimal(minor).scaleb(-MINOR_UNITS[self.source])
        if self.quote.base == self.target:
            converted = major / self.quote.price  # TARGET/SOURCE: divide
        else:
            converted = major * self.quote.price  # SOURCE/TARGET: multiply
        exponent = Decimal(1).scaleb(-MINOR_UNITS[self.target])
        # Half-up on the magnitude, so a refund converts to exactly minus its payment's amount.
        rounded = converted.quantize(exponent, rounding=ROUND_HALF_UP)
        return int(rounded.scaleb(MINOR_UNITS[self.target]))


def conversion(quotes: dict[tuple[str, str], Quote], *, source: str, target: str) -> Conversion:
    """How ``source`` amounts settle in ``target``: the quote ``target/source`` or its inverse."""
    if source == target:
        return Conversion(source, target, None)
    quote = quotes.get((target, source)) or quotes.get((source, target))
    if quote is None:
        raise QuoteError(
            f"no FX quote for settling {source} in {target}: add {target}/{source}=<price> to "
            "ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES"
        )
    return Conversion(source, target, quote)


@lru_cache(maxsize=8)
def _parsed(spec: str) -> dict[tuple[str, str], Quote]:
    return parse_quotes(spec)


def settlement_fields(spec: str, *, currency: str, amount: int, settlement_currency: str) -> dict[str, Any]:
    """``grossSettlementAmount`` and ``settlementQuote`` for an answer (spec §3.2, §3.5, §3.8).

    Empty when the application settles in the transaction currency, or no quote is configured
    (the settlement files then fail loudly instead). Same quote and rounding as the files: the
    report's settlementAmountValue is this gross amount less the fee.
    """
    if not settlement_currency or settlement_currency == currency:
        return {}
    try:
        conv = conversion(_parsed(spec), source=currency, target=settlement_currency)
    except QuoteError:
        return {}
    assert conv.quote is not None
    return {
        "grossSettlementAmount": amount_dict(settlement_currency, conv.convert(amount)),
        # quotePrice is a JSON number in the SDKs' models (Python float, Go float64).
        "settlementQuote": {"quoteCurrencyPair": conv.quote.pair, "quotePrice": float(conv.quote.price)},
    }
