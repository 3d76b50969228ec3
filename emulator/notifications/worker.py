"""Notification delivery and the other background work in a process of its own (issue #15).

``alipay-emulator serve`` starts ``python -m emulator.notifications.worker --parent PID`` once
it serves. The worker opens the same database, follows the shared world (clock, reset) like any
other emulator process (world.py), and delivers what is due every ``POLL_SECONDS`` in batches
(``Notifier.deliver_due``: one write to claim a batch, one to record it). Every
``TICK_SECONDS`` it also runs the once-a-second due work of every domain (expiries, delayed
completions, scheduled reports, acceptance resends) and SQLite's WAL checkpoint, which the
serving process then skips (``Runtime.run_due``): off the gateway's process, whose event loop
those few milliseconds of queries a second would hold up. It signs and sends in
parallel with the gateway instead of competing with it for the interpreter: on one process the
delivery threads held the GIL the event loop needed, which showed as a long ``pay`` tail.

The serving process does that work itself again when the worker is not running (it checks on
every tick), and a clock call still delivers what became due before it returns, in the process that
received it; the wall-clock leases keep the two from sending a notification twice. The worker
exits when its parent is gone, on SIGTERM, or on SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from ..logs import configure as configure_logging
from ..settings import Settings

log = logging.getLogger("emulator")
POLL_SECONDS = 0.1
TICK_SECONDS = 1.0
STOP_SECONDS = 5.0
# Delivery is asynchronous by contract (and retried), a gateway answer is not: when the machine
# is saturated the worker's signing (RSA, in several threads) yields the CPU to the gateway.
# Below that it makes no difference (nice only orders processes competing for a busy CPU).
NICENESS = 10


def can_run(settings: Settings) -> bool:
    """A separate process needs a database it can open too (not a private in-memory one)."""
    url = settings.resolved_database_url
    return settings.notify_process and ":memory:" not in url and url.split("?")[0] != "sqlite://"


class DeliveryProcess:
    """The serving process's handle on its delivery worker."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._warned = False

    def start(self) -> None:
        command = [sys.executable, "-m", "emulator.notifications.worker", "--parent", str(os.getpid())]
        self._proc = subprocess.Popen(command, env=self._env)

    def alive(self) -> bool:
        """Whether the worker runs; once it has died, this process delivers (said once)."""
        running = self._proc is not None and self._proc.poll() is None
        if not running and self._proc is not None and not self._warned:
            self._warned = True
            log.warning(
                "notification worker exited with %s: this process delivers notifications itself",
                self._proc.returncode,
            )
        return running

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_SECONDS)


def run(settings: Settings, *, parent: int) -> int:
    from ..acceptance.install import install as install_acceptance
    from ..reconciliation.install import install as install_reconciliation
    from ..runtime import build_runtime

    with contextlib.suppress(OSError):  # not permitted somewhere: deliver at normal priority
        os.nice(NICENESS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = build_runtime(settings)
    # The domains whose due work the serving process installs beside the runtime's own.
    install_reconciliation(runtime)
    install_acceptance(runtime)
    tick = time.monotonic()
    try:
        while not stop.is_set() and os.getppid() == parent:
            try:
                runtime.sync_world()
                if time.monotonic() >= tick:
                    tick = time.monotonic() + TICK_SECONDS
                    runtime.run_due(periodic=True)  # delivery included
                else:
                    runtime.notifier.deliver_due(runtime.clock.now())
            except Exception:  # a lost connection or a reset in between: try again next poll
                log.exception("notification worker: background round failed")
            stop.wait(POLL_SECONDS)
    finally:
        runtime.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deliver the emulator's notifications.")
    parser.add_argument("--parent", type=int, required=True, help="exit when this process is gone")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    started = time.monotonic()
    code = run(settings, parent=args.parent)
    log.debug("notification worker stopped after %.1f s", time.monotonic() - started)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
