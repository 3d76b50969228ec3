"""Attach report generation to a runtime: the service, its start-up check, its hooks."""

from __future__ import annotations

from ..runtime import Runtime
from .models import REPORT_INDEXES
from .service import ReconciliationService


def install(runtime: Runtime) -> ReconciliationService:
    """Build the service for ``runtime``; register the automatic schedule and the reset hook.

    Raises ``QuoteError`` (a ``ValueError``) when an application settles in a currency that no
    configured FX quote converts to, so a misconfigured emulator fails at start-up.
    """
    # The tables exist when this package was imported before the runtime's create_schema; the
    # indexes may be missing on a database created by an older version: add them.
    runtime.db.create_schema()
    for index in REPORT_INDEXES:
        index.create(runtime.db.engine, checkfirst=True)
    service = ReconciliationService(db=runtime.db, clock=runtime.clock, settings=runtime.settings)
    service.check_configuration()
    runtime.due_hooks.append(service.run_due)
    runtime.reset_hooks.append(service.on_reset)
    runtime.event_sources.append(service.next_events)
    return service
