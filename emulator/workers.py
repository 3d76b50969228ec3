"""``serve --workers N``: N whole emulator processes on the same ports and the same database.

Each worker is ``alipay-emulator serve`` with ``ALIPAY_EMULATOR_REUSE_PORT=true``: it binds its
listeners with SO_REUSEPORT and the kernel spreads incoming connections over the workers, so no
process sits in the path of a request. Everything the workers must agree on lives in the
database (see world.py). The supervisor restarts a worker that dies (kill -9, a crash) and
passes SIGTERM/SIGINT on to all of them, then waits for each to drain.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from .settings import Settings

log = logging.getLogger("emulator")
# A worker that dies is started again after this pause; more than MAX_RESTARTS in a row that
# die within STABLE_SECONDS of starting end the supervisor (a broken setting, not a crash).
RESTART_PAUSE_SECONDS = 0.5
STABLE_SECONDS = 10.0
MAX_RESTARTS = 5


def settings_environment(settings: Settings) -> dict[str, str]:
    """This environment plus the settings given as CLI options: a child sees what we see."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json", exclude_defaults=True).items():
        if value is None or name in ("workers", "reuse_port"):
            continue
        env[f"ALIPAY_EMULATOR_{name.upper()}"] = _text(value)
    return env


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment of one worker: this one, plus the settings given as CLI options."""
    env = settings_environment(settings)
    env["ALIPAY_EMULATOR_WORKERS"] = "1"
    env["ALIPAY_EMULATOR_REUSE_PORT"] = "true"
    return env


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def supervise(settings: Settings) -> int:
    env = worker_environment(settings)
    command = [sys.executable, "-m", "emulator", "serve"]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started: dict[int, float] = {}
    procs: list[subprocess.Popen[bytes]] = []
    for _ in range(settings.workers):
        proc = subprocess.Popen(command, env=env)
        started[proc.pid] = time.monotonic()
        procs.append(proc)
    log.info(
        "alipay-emulator: %d workers on port %s (pids %s)", len(procs), settings.port, [p.pid for p in procs]
    )
    quick_deaths = 0
    while not stopping:
        time.sleep(0.2)
        for i, proc in enumerate(procs):
            code = proc.poll()
            if code is None or stopping:
                continue
            lived = time.monotonic() - started.pop(proc.pid, 0.0)
            quick_deaths = quick_deaths + 1 if lived < STABLE_SECONDS else 0
            if quick_deaths > MAX_RESTARTS:
                log.error("alipay-emulator: workers keep exiting (last code %s); stopping", code)
                stopping = True
                break
            log.warning("alipay-emulator: worker %d exited with %s; starting another", proc.pid, code)
            time.sleep(RESTART_PAUSE_SECONDS)
            again = subprocess.Popen(command, env=env)
            started[again.pid] = time.monotonic()
            procs[i] = again
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(30))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait(5))
    # A worker stopped by our SIGTERM before it had installed its own handler (still starting)
    # ends with -SIGTERM: that is a clean stop too.
    clean = all(c in (0, -signal.SIGTERM) for c in codes)
    return 0 if quick_deaths <= MAX_RESTARTS and clean else 1
