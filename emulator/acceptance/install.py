"""Attach acceptance grading to a runtime: the service, its due-work and gateway call hooks."""

from __future__ import annotations

from ..runtime import Runtime
from .service import AcceptanceService


def install(runtime: Runtime) -> AcceptanceService:
    service = AcceptanceService(
        db=runtime.db,
        clock=runtime.clock,
        settings=runtime.settings,
        journal=runtime.journal,
        simulations=runtime.simulations,
        notifier=runtime.notifier,
        payments=runtime.payments,
    )
    runtime.due_hooks.append(service.run_due)
    runtime.call_hooks.append(service.on_call)
    return service
