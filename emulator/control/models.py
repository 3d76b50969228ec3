"""Control-plane state that must survive a restart: the virtual clock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, insert
from sqlmodel import Field, Session, SQLModel

from ..clock import ClockState, as_utc
from ..storage import Tx, connection_of


class ClockRow(SQLModel, table=True):
    id: int = Field(default=1, primary_key=True)
    offset_seconds: float = 0.0
    frozen_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


def load_clock_state(session: Session) -> ClockState:
    row = session.get(ClockRow, 1)
    if row is None:
        return ClockState()
    frozen = as_utc(row.frozen_at) if row.frozen_at is not None else None
    return ClockState(offset_seconds=row.offset_seconds, frozen_at=frozen)


def save_clock_state(session: Session, state: ClockState) -> None:
    row = session.get(ClockRow, 1) or ClockRow(id=1)
    row.offset_seconds = state.offset_seconds
    row.frozen_at = state.frozen_at
    session.add(row)


def insert_clock_state(tx: Tx, state: ClockState) -> None:
    """The clock row of a database whose clock table is empty (just wiped by a reset)."""
    connection_of(tx).execute(
        insert(ClockRow.__table__),  # type: ignore[attr-defined]
        {"id": 1, "offset_seconds": state.offset_seconds, "frozen_at": state.frozen_at},
    )
