"""Moving money between balances. Every move is a transfer, so money is conserved."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from .models import Balance


class InsufficientFunds(Exception):
    pass


def balance_of(session: Session, owner: str, currency: str) -> int:
    row = session.exec(
        select(Balance.amount).where(Balance.owner == owner, Balance.currency == currency)
    ).first()
    return int(row) if row is not None else 0


def transfer(session: Session, *, source: str, target: str, currency: str, amount: int) -> None:
    """Debit ``source`` and credit ``target`` in the caller's transaction.

    The debit is one conditional UPDATE, so two concurrent debits can never overdraw.
    """
    debited = session.execute(
        update(Balance)
        .where(
            col(Balance.owner) == source,
            col(Balance.currency) == currency,
            col(Balance.amount) >= amount,
        )
        .values(amount=Balance.amount - amount)
    )
    if debited.rowcount != 1:  # type: ignore[attr-defined]
        raise InsufficientFunds(f"{source} has less than {amount} {currency}")
    credited = session.execute(
        update(Balance)
        .where(col(Balance.owner) == target, col(Balance.currency) == currency)
        .values(amount=Balance.amount + amount)
    )
    if credited.rowcount != 1:  # type: ignore[attr-defined]
        session.add(Balance(owner=target, currency=currency, amount=amount))
        session.flush()
