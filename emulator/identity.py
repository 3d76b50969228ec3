"""Key material every process of one sandbox must share: the TLS CA and server certificate, the
SFTP host key. Kept in the database (the data directory holds copies for clients and servers).

``shared(database_url, name, make)`` answers the stored value, or stores ``make()`` when there
is none yet (or ``valid`` refuses the stored one), under the start-up lock, so processes
started together agree on one value.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Field, SQLModel

from .storage import Database


class IdentityRow(SQLModel, table=True):
    __tablename__ = "identity"

    name: str = Field(primary_key=True, max_length=64)
    value: str


def shared(
    database_url: str,
    name: str,
    make: Callable[[], str],
    *,
    valid: Callable[[str], bool] = lambda _value: True,
) -> str:
    db = Database(database_url)
    try:
        with db.startup_lock():
            IdentityRow.__table__.create(db.engine, checkfirst=True)  # type: ignore[attr-defined]
            with db.write() as session:
                row = session.get(IdentityRow, name)
                if row is not None and valid(row.value):
                    return row.value
                value = make()
                if row is None:
                    session.add(IdentityRow(name=name, value=value))
                else:
                    row.value = value
                    session.add(row)
                return value
    finally:
        db.dispose()
