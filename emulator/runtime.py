"""The composition root: one ``Runtime`` per emulator process, built from ``Settings``.

``create_app`` builds it in the lifespan and keeps it on ``app.state``; the CLI builds one to
answer ``sandbox`` and ``payment-code`` without serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .clock import Clock
from .control.models import load_clock_state, save_clock_state
from .control.reset import reset_application
from .control.simulation import Simulations
from .gateway.operations import Operation
from .journal import Journal
from .notifications.service import Notifier
from .payments.service import PaymentService
from .refunds.service import RefundService
from .sandbox import service as sandbox
from .sandbox.directory import Directory
from .sandbox.fixtures import SandboxDefinition, load_definition
from .settings import Settings
from .storage import Database, SequenceBlocks


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    definition: SandboxDefinition
    journal: Journal
    payments: PaymentService
    refunds: RefundService
    notifier: Notifier
    directory: Directory
    sequences: SequenceBlocks
    simulations: Simulations = field(default_factory=Simulations)
    operations: dict[str, Operation] = field(default_factory=dict)
    # Work that becomes due as the virtual clock moves (expiries, retries, reports). Each hook
    # gets the clock's "now" and must be idempotent: it runs every second and after every
    # clock change, and does whatever is due by then.
    due_hooks: list[Callable[[datetime], object]] = field(default_factory=list)
    # Extra state to clear on reset (e.g. files on disk); gets the client ID of a scoped reset.
    reset_hooks: list[Callable[[str | None], object]] = field(default_factory=list)
    _due_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def alipay_key(self) -> rsa.RSAPrivateKey:
        return self.definition.alipay_private_key

    def resources(self) -> dict[str, Any]:
        with self.db.read() as session:
            return sandbox.resources(session, self.definition, self.settings, sftp_host=self.public_host())

    def public_host(self) -> str:
        host = self.settings.host
        return "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host

    def reset(self, *, client_id: str | None = None) -> None:
        """Back to the seeded sandbox: every table wiped and seeded again, clock offset cleared.

        With ``client_id``, only that application's payments, refunds, notifications, journal,
        scenarios, faults, keys and tokens; the clock and the other applications are untouched.
        """
        with self._due_lock:
            if client_id is not None:
                self.db.transaction(lambda session: reset_application(session, self.definition, client_id))
            else:
                self.clock.restore(type(self.clock.state)())
                with self.sequences.resetting(), self.db.write() as session:
                    sandbox.wipe(session)
                    sandbox.seed(session, self.definition, now=self.clock.now())
            self.directory.invalidate()
            self.journal.clear(client_id=client_id)
            self.simulations.clear(client_id=client_id)
            for hook in self.reset_hooks:
                hook(client_id)

    def run_due(self) -> None:
        """Run every due hook once, serialised (the ticker and clock calls may overlap)."""
        with self._due_lock:
            now = self.clock.now()
            for hook in self.due_hooks:
                try:
                    hook(now)
                except Exception:  # one failing hook must not starve the others
                    logging.getLogger("emulator").exception("due-work hook %r failed", hook)

    def persist_clock(self) -> None:
        with self.db.write() as session:
            save_clock_state(session, self.clock.state)

    def close(self) -> None:
        self.notifier.close()
        self.db.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Load fixtures (failing loudly on a broken one), open the database, seed on first start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    definition = load_definition(settings.fixtures_dir)
    db = Database(settings.resolved_database_url)
    with db.startup_lock():  # processes started together: one creates and seeds, the others wait
        db.create_schema()
        with db.read() as session:
            clock = Clock(load_clock_state(session))
        with db.write() as session:
            if not sandbox.is_seeded(session):
                sandbox.seed(session, definition, now=clock.now())
    directory = Directory(db)
    sequences = SequenceBlocks(db)
    payments = PaymentService(
        db=db,
        clock=clock,
        settings=settings,
        directory=directory,
        sequences=sequences,
        triggers=definition.triggers,
    )
    notifier = Notifier(db=db, clock=clock, settings=settings, alipay_key=definition.alipay_private_key)
    runtime = Runtime(
        settings=settings,
        db=db,
        clock=clock,
        definition=definition,
        journal=Journal(size=settings.journal_size, enabled=settings.journal_enabled),
        payments=payments,
        refunds=RefundService(db=db, clock=clock, settings=settings),
        notifier=notifier,
        directory=directory,
        sequences=sequences,
    )
    # Payments first: an expiry or completion may queue a notification delivered right after.
    runtime.due_hooks.extend([payments.run_due, notifier.deliver_due])
    return runtime
