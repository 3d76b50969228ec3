"""Acceptance runs and their cases, persisted: every process of a sandbox sees the same grades."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"


class CaseStatus(StrEnum):
    NOT_STARTED = "not_started"
    WAITING = "waiting"
    PASSED = "passed"
    FAILED = "failed"


GRADED = (CaseStatus.PASSED, CaseStatus.FAILED)


class AcceptanceRun(SQLModel, table=True):
    __table_args__ = (Index("ix_acceptance_run_client", "client_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64)
    status: str = Field(default=RunStatus.RUNNING, max_length=16)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AcceptanceCase(SQLModel, table=True):
    """One case of a run. The marks bound its window: only what came after them counts."""

    __table_args__ = (Index("ix_acceptance_case_run", "run_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int
    case_id: str = Field(max_length=16)
    position: int
    status: str = Field(default=CaseStatus.NOT_STARTED, max_length=16)
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # The newest request-journal entry and outbox notification when the case started.
    journal_mark: int = 0
    notification_mark: int = 0
    graded_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    # JSON: [{"kind": "request"|"notification"|"download", "id": n}], the values handed out,
    # and what the arming did since (a resend, a tampered send).
    evidence: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    case_values: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: str = Field(default="{}", sa_column=Column(Text, nullable=False))
