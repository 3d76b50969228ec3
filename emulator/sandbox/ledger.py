"""Moving money between balances. Every move is a transfer, so money is conserved.

Lock order: a transfer touches its two balance rows in the order of their owner keys, whatever
the direction of the money, so a payment (buyer -> merchant) and a refund or cancel (merchant ->
buyer) between the same two accounts can never wait for each other in a cycle (a deadlock on
PostgreSQL). Callers that lock a payment row do so before calling here: payment row, then the
sequence counters, then balances in key order.
"""

from __future__ import annotations

from sqlmodel import Session, select

from ..hotsql import AnyTx, Raw, Statement, raw_of
from .models import Balance, buyer_owner, merchant_owner


class InsufficientFunds(Exception):
    pass


def balance_of(session: Session, owner: str, currency: str) -> int:
    row = session.exec(
        select(Balance.amount).where(Balance.owner == owner, Balance.currency == currency)
    ).first()
    return int(row) if row is not None else 0


# Prebuilt (emulator.hotsql): these run on every payment, refund and cancel.
_BALANCE = Balance.__table__.name  # type: ignore[attr-defined]
_DEBIT = Statement(
    f"UPDATE {_BALANCE} SET amount = amount - :a WHERE owner = :o AND currency = :c AND amount >= :a"
)
_CREDIT = Statement(f"UPDATE {_BALANCE} SET amount = amount + :a WHERE owner = :o AND currency = :c")
_OPEN = Statement(f"INSERT INTO {_BALANCE} (owner, currency, amount) VALUES (:o, :c, :a)")
_UNCREDIT = Statement(f"UPDATE {_BALANCE} SET amount = amount - :a WHERE owner = :o AND currency = :c")


def transfer(tx: AnyTx, *, source: str, target: str, currency: str, amount: int) -> None:
    """Debit ``source`` and credit ``target`` in the caller's transaction.

    The debit is one conditional UPDATE, so two concurrent debits can never overdraw. The rows
    are updated in owner-key order (see the module's docstring); when the credit comes first and
    the debit then finds too little, the credit is taken back before ``InsufficientFunds``.
    """
    raw = raw_of(tx)
    if source < target:
        _debit(raw, source, currency, amount)
        _credit(raw, target, currency, amount)
        return
    _credit(raw, target, currency, amount)
    try:
        _debit(raw, source, currency, amount)
    except InsufficientFunds:
        raw.execute(_UNCREDIT, {"o": target, "c": currency, "a": amount})
        raise


def _debit(raw: Raw, owner: str, currency: str, amount: int) -> None:
    if raw.execute(_DEBIT, {"o": owner, "c": currency, "a": amount}).rowcount != 1:
        raise InsufficientFunds(f"{owner} has less than {amount} {currency}")


def _credit(raw: Raw, owner: str, currency: str, amount: int) -> None:
    if raw.execute(_CREDIT, {"o": owner, "c": currency, "a": amount}).rowcount != 1:
        raw.execute(_OPEN, {"o": owner, "c": currency, "a": amount})


def buyer_pays(
    tx: AnyTx, *, buyer_login_id: str, merchant_customer_id: str, currency: str, amount: int
) -> None:
    """A payment: buyer -> merchant. Raises ``InsufficientFunds`` when the buyer is short."""
    transfer(
        tx,
        source=buyer_owner(buyer_login_id),
        target=merchant_owner(merchant_customer_id),
        currency=currency,
        amount=amount,
    )


def merchant_returns(
    tx: AnyTx, *, merchant_customer_id: str, buyer_login_id: str, currency: str, amount: int
) -> None:
    """A cancel, refund or reset: merchant -> buyer."""
    transfer(
        tx,
        source=merchant_owner(merchant_customer_id),
        target=buyer_owner(buyer_login_id),
        currency=currency,
        amount=amount,
    )
