"""``serve`` delivers notifications from a process of its own (issue #15 item 2).

The worker is a child of the serving process; when it dies the serving process delivers again;
when the serving process dies the worker does not outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.notifications.worker import NICENESS
from emulator.testing import EmulatorClient, NotificationReceiver

from .conftest import pay_body
from .support import EmulatorProcess, SignedGateway

pytestmark = pytest.mark.e2e
WORKER = "emulator.notifications.worker"


def children(pid: int) -> dict[int, str]:
    """The command lines of ``pid``'s child processes."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def wait_until(seconds: float, check: Any) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def delivery_worker(emu: EmulatorProcess) -> int:
    assert emu.proc is not None
    parent = emu.proc.pid
    return int(wait_until(30, lambda: next((p for p, c in children(parent).items() if WORKER in c), 0)))


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path / "data", tls_port=0)
    process.start(timeout=120)
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as r:
        yield r


def pay(emu: EmulatorProcess, request_id: str, notify_url: str, amount: int = 1000) -> dict[str, Any]:
    with EmulatorClient(emu.http_url) as control:
        sandbox = control.sandbox()
        app = next(
            a for a in sandbox["applications"] if a["role"] == "MERCHANT" and a["testCurrency"] == "USD"
        )
        buyer = next(b["loginId"] for b in sandbox["buyers"] if b["behaviour"] == "normal")
        code = control.payment_code(buyer)
    gw = SignedGateway()
    try:
        return gw.call(
            emu.http_url,
            app,
            "pay",
            pay_body(code, request_id=request_id, notify_url=notify_url, amount=amount),
        )
    finally:
        gw.close()


def test_the_worker_delivers_and_the_serving_process_takes_over_when_it_dies(
    emu: EmulatorProcess, receiver: NotificationReceiver
) -> None:
    worker = delivery_worker(emu)
    # It yields the CPU to the gateway when the machine is saturated (delivery can wait).
    assert emu.proc is not None
    serving = _nice(emu.proc.pid)
    wait_until(30, lambda: _nice(worker) == min(serving + NICENESS, 19))
    first = pay(emu, "DW-1", receiver.url)
    assert first["result"]["resultCode"] == "SUCCESS"
    [note] = receiver.wait_for(1, timeout=15)
    assert first["paymentId"] in note.body.decode()
    with EmulatorClient(emu.http_url) as control:
        [stored] = control.notifications(payment_id=first["paymentId"])
    assert stored["status"] == "DELIVERED" and [a["number"] for a in stored["attempts"]] == [1]

    os.kill(worker, signal.SIGKILL)
    wait_until(10, lambda: worker not in children(emu.proc.pid if emu.proc else 0))
    second = pay(emu, "DW-2", receiver.url)
    notes = receiver.wait_for(2, timeout=15)
    assert second["paymentId"] in notes[1].body.decode()
    assert "notification worker exited" in emu.log()


def test_the_worker_runs_the_timed_work_the_serving_process_then_leaves_alone(
    emu: EmulatorProcess, receiver: NotificationReceiver
) -> None:
    """Due work (here a trigger-9901 payment completing 3 s later) runs in the worker only."""
    worker = delivery_worker(emu)
    os.kill(worker, signal.SIGSTOP)  # alive but doing nothing: the serving process must not step in
    try:
        answer = pay(emu, "DW-DUE", receiver.url, amount=9901)
        assert answer["result"]["resultCode"] == "UNKNOWN_EXCEPTION"
        time.sleep(5)  # past the 3 s completion and several of the serving process's ticks
        with EmulatorClient(emu.http_url) as control:
            assert control.notifications(payment_id=answer["paymentId"]) == []
    finally:
        os.kill(worker, signal.SIGCONT)
    [note] = receiver.wait_for(1, timeout=15)
    notice = json.loads(note.body)
    assert (notice["paymentId"], notice["result"]["resultCode"]) == (answer["paymentId"], "SUCCESS")


def test_the_worker_does_not_outlive_the_serving_process(emu: EmulatorProcess) -> None:
    worker = delivery_worker(emu)
    assert emu.proc is not None
    emu.proc.kill()
    emu.proc.wait(10)
    wait_until(10, lambda: not Path(f"/proc/{worker}").exists() or "Z" in _state(worker))


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
