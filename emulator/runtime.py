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
from sqlmodel import Session

from . import world
from .applications import store as app_store
from .applications.service import ApplicationService
from .clock import Clock, ClockState, DueEvent
from .control.models import insert_clock_state, load_clock_state, save_clock_state
from .control.reset import reset_application
from .control.simulation import Simulations
from .gateway.operations import Operation
from .journal import Journal, JournalEntry
from .notifications.service import Notifier
from .payments.service import PaymentService
from .refunds.service import RefundService
from .registrations.models import RegistrationStatus
from .registrations.service import RegistrationService, registered_view
from .sandbox import service as sandbox
from .sandbox.directory import Directory
from .sandbox.fixtures import SandboxDefinition, load_definition
from .settings import Settings
from .signer import Signer
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
    registrations: RegistrationService
    simulations: Simulations = field(default_factory=Simulations)
    # The world versions this process has applied (see world.py and sync_world).
    world_seen: world.Versions = field(default_factory=world.Versions)
    _world_lock: threading.Lock = field(default_factory=threading.Lock)
    operations: dict[str, Operation] = field(default_factory=dict)
    # Work that becomes due as the virtual clock moves (expiries, retries, reports). Each hook
    # gets the clock's "now" and must be idempotent: it runs every second and after every
    # clock change, and does whatever is due by then.
    due_hooks: list[Callable[[datetime], object]] = field(default_factory=list)
    # Called with each journal entry right after the gateway recorded it, before the answer is
    # sent (acceptance: a buyer confirms after the first inquiry). Must be quick and never raise.
    call_hooks: list[Callable[[JournalEntry], object]] = field(default_factory=list)
    # Extra state to clear on reset (e.g. files on disk); gets the client ID of a scoped reset.
    reset_hooks: list[Callable[[str | None], object]] = field(default_factory=list)
    # Issue #9/#10: go-live gate. Each check gets a client ID and returns the reasons the
    # application may not launch yet (empty: nothing against it).
    launch_checks: list[Callable[[str], list[str]]] = field(default_factory=list)
    # True while another process of ours runs the background work (serve's worker process,
    # emulator.notifications.worker): the once-a-second tick of this process then leaves it all
    # to that process (clock calls still run what became due at once, here).
    delivery_elsewhere: Callable[[], bool] = field(default=lambda: False)
    # What becomes due next, per domain (the console's "advance to the next event", issue #11).
    event_sources: list[Callable[[datetime], list[DueEvent]]] = field(default_factory=list)
    _due_lock: threading.Lock = field(default_factory=threading.Lock)
    # Signs gateway answers off the event loop (signer.py); made by build_runtime.
    signer: Signer = field(default_factory=lambda: Signer(0))

    @property
    def alipay_key(self) -> rsa.RSAPrivateKey:
        return self.definition.alipay_private_key

    def alipay_key_for(self, client_id: str) -> rsa.RSAPrivateKey:
        """The live Alipay key for a production client ID (issue #9), else the sandbox's."""
        live = self.definition.alipay_live_private_key
        if live is None or client_id.startswith("SANDBOX_"):
            return self.definition.alipay_private_key
        app = self.directory.application(client_id)
        return live if app is not None and app.live else self.definition.alipay_private_key

    def resources(self) -> dict[str, Any]:
        with self.db.read() as session:
            out = sandbox.resources(
                session,
                self.definition,
                self.settings,
                sftp_host=self.public_host(),
                generated=app_store.generated(session),
            )
        # Merchants and stores that acquirers and ISVs registered and got approved (#16).
        approved = self.registrations.list(status=RegistrationStatus.APPROVED, limit=1000)
        out["registeredMerchants"] = [registered_view(r) for r in reversed(approved)]
        return out

    def applications(self) -> ApplicationService:
        """The Developer Center's service (issue #9), over this runtime's database and clock."""
        return ApplicationService(
            db=self.db,
            clock=self.clock,
            directory=self.directory,
            definition=self.definition,
            settings=self.settings,
            launch_checks=self.launch_checks,
        )

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
                # Sequence counters are never rewound (sandbox.wipe keeps them): every process's
                # reserved id block stays valid, so a reset here never makes another process
                # insert an id twice. The epoch tells the others to drop what they cached. One
                # transaction, a few statements whatever the number of rows (sandbox.wipe).
                def work(session: Session) -> world.Versions:
                    world.lock(session)
                    kept = app_store.snapshot(session)  # runtime applications are configuration
                    sandbox.wipe(session)
                    sandbox.seed(session, self.definition, now=self.clock.real_now())
                    app_store.restore(session, kept, now=self.clock.real_now())
                    insert_clock_state(session, ClockState())  # sandbox.wipe emptied its table
                    return world.bump(session, clock=True, epoch=True, simulations=True)

                versions = self.db.transaction(work)
                with self._world_lock:
                    self.clock.restore(ClockState())
                    self.world_seen = versions
            self.directory.invalidate()
            self.journal.clear(client_id=client_id)
            # A full reset deleted the stored scenarios and faults and bumped their version with
            # everything else: only what this process holds is left to drop.
            self.simulations.clear(client_id=client_id, stored=client_id is not None)
            for hook in self.reset_hooks:
                hook(client_id)

    def run_due(self, *, periodic: bool = False) -> None:
        """Run every due hook once, serialised (the ticker and clock calls may overlap).

        ``periodic``: the once-a-second tick (and the WAL checkpoint), which does nothing while
        the worker process does it (``delivery_elsewhere``): the due work's queries and writes,
        a few milliseconds holding the interpreter every second, stay off the gateway's process.
        """
        if periodic and self.delivery_elsewhere():
            return
        with self._due_lock:
            if periodic:
                try:
                    self.db.checkpoint()
                except Exception:  # a busy or lost database: the next tick tries again
                    logging.getLogger("emulator").exception("WAL checkpoint failed")
            now = self.clock.now()
            for hook in self.due_hooks:
                try:
                    hook(now)
                except Exception:  # one failing hook must not starve the others
                    logging.getLogger("emulator").exception("due-work hook %r failed", hook)

    def upcoming(self, now: datetime) -> list[DueEvent]:
        """Every domain's next timed events strictly after ``now``, soonest first."""
        events = [e for source in self.event_sources for e in source(now) if e.at > now]
        return sorted(events, key=lambda e: e.at)

    def change_clock(self, change: Callable[[Clock], object]) -> None:
        """Apply ``change`` to the shared clock: to the state in the database, under its lock.

        This process sees the change at once, the others within ``world.POLL_SECONDS``.
        ``change`` may raise ``ValueError`` (nothing changes then).
        """

        def work(session: Session) -> world.Versions:
            world.lock(session)
            self.clock.restore(load_clock_state(session))
            change(self.clock)
            save_clock_state(session, self.clock.state)
            return world.bump(session, clock=True)

        with self._world_lock:
            try:
                self.world_seen = self.db.transaction(work)
            except ValueError:
                with self.db.read() as session:
                    self.clock.restore(load_clock_state(session))
                raise

    def sync_world(self) -> None:
        """Apply what other processes changed: clock, scenarios and faults, a reset."""
        with self._world_lock:
            with self.db.read_connection() as conn:
                versions = world.read(conn)
            seen = self.world_seen
            if versions == seen:
                return
            if versions.clock != seen.clock or versions.epoch != seen.epoch:
                with self.db.read() as session:
                    self.clock.restore(load_clock_state(session))
            if versions.epoch != seen.epoch:
                self.directory.invalidate()
            if versions.simulations != seen.simulations or versions.epoch != seen.epoch:
                self.simulations.reload()
            self.world_seen = versions

    def close(self) -> None:
        try:
            self.journal.close()
        except Exception:  # the database may be gone already; the journal is not worth a hang
            logging.getLogger("emulator").warning("could not write the last journal entries")
        # Under the due-work lock: a ticker run still in its worker thread after the ticker task
        # was cancelled would otherwise lose its connection to the disposed pool (unclosed).
        with self._due_lock:
            self.notifier.close()
            self.signer.close()
            self.db.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Load fixtures (failing loudly on a broken one), open the database, seed on first start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    definition = load_definition(settings.fixtures_dir)
    db = Database(settings.resolved_database_url)
    with db.startup_lock():  # processes started together: one creates and seeds, the others wait
        db.create_schema()
        with db.write() as session:
            world.ensure(session)
        with db.read_connection() as conn:
            seen = world.read(conn)  # before the clock: a change in between shows at the next poll
        with db.read() as session:
            clock = Clock(load_clock_state(session))
        with db.write() as session:
            if not sandbox.is_seeded(session):
                sandbox.seed(session, definition, now=clock.now())
    directory = Directory(db)
    sequences = SequenceBlocks(db)
    registrations = RegistrationService(
        db=db,
        clock=clock,
        settings=settings,
        directory=directory,
        outcomes=definition.registration_outcomes,
    )
    payments = PaymentService(
        db=db,
        clock=clock,
        settings=settings,
        directory=directory,
        sequences=sequences,
        triggers=definition.triggers,
        admit=registrations.admit_pay if settings.registration_required else None,
    )
    notifier = Notifier(db=db, clock=clock, settings=settings, alipay_key=definition.alipay_private_key)
    runtime = Runtime(
        settings=settings,
        db=db,
        clock=clock,
        definition=definition,
        journal=Journal(
            size=settings.journal_size, enabled=settings.journal_enabled, db=db, sequences=sequences
        ),
        payments=payments,
        refunds=RefundService(db=db, clock=clock, settings=settings),
        notifier=notifier,
        directory=directory,
        sequences=sequences,
        registrations=registrations,
        simulations=Simulations(db),
        world_seen=seen,
        signer=Signer(settings.signing_threads),
    )
    runtime.simulations.reload()
    notifier.key_for = runtime.alipay_key_for  # issue #9: live applications' notifications
    runtime.reset_hooks.append(lambda client_id: app_store.after_scoped_reset(db, client_id))
    # Payments first: an expiry or completion may queue a notification delivered right after.
    runtime.due_hooks.extend([payments.run_due, registrations.run_due, notifier.deliver_due])
    runtime.event_sources.extend([payments.next_events, notifier.next_events])
    return runtime
