"""Version counters of the shared world, so every process on one database stays in step.

A process that changes the clock, the scenarios and faults, or resets the sandbox bumps the
matching counter in the same transaction; every process polls the one row (``read``) twice a
second and reloads what changed (``Runtime.sync_world``). The reset ``epoch`` is how a process
learns that a reset elsewhere dropped what it had cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlmodel import Field, SQLModel

from .storage import Tx, connection_of


class WorldRow(SQLModel, table=True):
    __tablename__ = "world"

    id: int = Field(default=1, primary_key=True)
    clock_version: int = 0
    epoch: int = 0
    simulations_version: int = 0


@dataclass(frozen=True, slots=True)
class Versions:
    clock: int = 0
    epoch: int = 0
    simulations: int = 0


_WORLD = WorldRow.__table__  # type: ignore[attr-defined]
_COLUMNS = (_WORLD.c.clock_version, _WORLD.c.epoch, _WORLD.c.simulations_version)
_READ = select(*_COLUMNS).where(_WORLD.c.id == 1)
# Seconds between two polls of the world row by each process (changes show within a second).
POLL_SECONDS = 0.5


def ensure(tx: Tx) -> None:
    """Create the row once (at start-up, under the start-up lock)."""
    conn = connection_of(tx)
    if conn.execute(_READ).first() is None:
        conn.execute(insert(_WORLD), {"id": 1})


def read(tx: Tx) -> Versions:
    row = connection_of(tx).execute(_READ).first()
    return Versions(*row) if row is not None else Versions()


def lock(tx: Tx) -> Versions:
    """Read the row FOR UPDATE: serialises changes to the shared clock across processes."""
    row = connection_of(tx).execute(_READ.with_for_update()).first()
    return Versions(*row) if row is not None else Versions()


def bump(tx: Tx, *, clock: bool = False, epoch: bool = False, simulations: bool = False) -> Versions:
    """Count a change in the caller's transaction; returns the versions after it."""
    values = {}
    if clock:
        values["clock_version"] = _WORLD.c.clock_version + 1
    if epoch:
        values["epoch"] = _WORLD.c.epoch + 1
    if simulations:
        values["simulations_version"] = _WORLD.c.simulations_version + 1
    conn = connection_of(tx)
    row = conn.execute(update(_WORLD).where(_WORLD.c.id == 1).values(values).returning(*_COLUMNS)).first()
    if row is None:  # a database seeded before this row existed
        conn.execute(insert(_WORLD), {"id": 1})
        return bump(tx, clock=clock, epoch=epoch, simulations=simulations)
    return Versions(*row)
