"""Moving money between balances. Every move is a transfer, so money is conserved."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from .models import Balance, buyer_owner, merchant_owner


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


def buyer_pays(
    session: Session, *, buyer_login_id: str, merchant_customer_id: str, currency: str, amount: int
) -> None:
    """A payment: buyer -> merchant. Raises ``InsufficientFunds`` when the buyer is short."""
    transfer(
        session,
        source=buyer_owner(buyer_login_id),
        target=merchant_owner(merchant_customer_id),
        currency=currency,
        amount=amount,
    )


def merchant_returns(
    session: Session, *, merchant_customer_id: str, buyer_login_id: str, currency: str, amount: int
) -> None:
    """A cancel, refund or reset: merchant -> buyer."""
    transfer(
        session,
        source=merchant_owner(merchant_customer_id),
        target=buyer_owner(buyer_login_id),
        currency=currency,
        amount=amount,
    )
