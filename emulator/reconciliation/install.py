"""Attach report generation to a runtime: the service, its start-up check, its hooks."""

from __future__ import annotations

from ..runtime import Runtime
from . import models  # noqa: F401  (defines the report indexes on their tables)
from .service import ReconciliationService


def install(runtime: Runtime) -> ReconciliationService:
    """Build the service for ``runtime``; register the automatic schedule and the reset hook.

    Raises ``QuoteError`` (a ``ValueError``) when an application settles in a currency that no
    configured FX quote converts to, so a misconfigured emulator fails at start-up.
    """
    # The tables exist when this package was imported before the runtime's create_schema; the
    # report indexes may be missing (imported after it, or a database made by an older
    # version): create_schema adds them, and does nothing when the runtime's call covered them.
    runtime.db.create_schema()
    service = ReconciliationService(db=runtime.db, clock=runtime.clock, settings=runtime.settings)
    service.check_configuration()
    runtime.due_hooks.append(service.run_due)
    runtime.reset_hooks.append(service.on_reset)
    runtime.event_sources.append(service.next_events)
    return service
