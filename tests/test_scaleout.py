"""Several emulator processes on one PostgreSQL database are one sandbox (issue #13)."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from emulator.testing import EmulatorClient, NotificationReceiver

from .conftest import pay_body
from .support import POSTGRES_ENV, EmulatorProcess, SignedGateway, free_port, postgres_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"),
]


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def start_all(procs: list[EmulatorProcess]) -> list[EmulatorProcess]:
    """Start every process at the same instant (threads), wait for all to be healthy."""
    with ThreadPoolExecutor(max_workers=len(procs)) as pool:
        return list(pool.map(lambda p: p.start(timeout=180), procs))


@pytest.fixture
def two(tmp_path: Path, database: str) -> Iterator[list[EmulatorProcess]]:
    # HTTPS and SFTP on: their identities are what a load balancer's clients must see as one.
    procs = [
        EmulatorProcess(tmp_path / f"p{i}", database_url=database, tls_port=None, sftp_port=free_port())
        for i in range(2)
    ]
    with ExitStack() as stack:
        for p in procs:
            stack.callback(p.stop)
        yield start_all(procs)


def money(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT currency, SUM(amount) FROM balance GROUP BY currency"))
            return {str(c): int(s) for c, s in rows}
    finally:
        engine.dispose()


def notify_url(port: int = 9) -> str:
    # A receiver may refuse: the URL is only there because #12 makes it required.
    return f"http://127.0.0.1:{port}/notify"


def test_mixed_pay_refund_cancel_from_8_threads_never_answers_unknown(
    two: list[EmulatorProcess], database: str, gw: SignedGateway
) -> None:
    """The red-team mix: pay locks buyer then merchant, refund and cancel the other way round."""
    with EmulatorClient(two[0].http_url) as control:
        sandbox = control.sandbox()
    app = next(a for a in sandbox["applications"] if a["role"] == "MERCHANT" and a["testCurrency"] == "USD")
    buyer = next(b["loginId"] for b in sandbox["buyers"] if b["behaviour"] == "normal")
    before = money(database)
    codes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        with ExitStack() as stack:
            clients = [stack.enter_context(EmulatorClient(p.http_url)) for p in two]
            for i in range(26):
                url = two[(n + i) % 2].http_url
                other = two[(n + i + 1) % 2].http_url
                code = clients[(n + i) % 2].payment_code(buyer)
                body = pay_body(code, request_id=f"MIX-{n}-{i}", amount=100 + i) | {
                    "paymentNotifyUrl": notify_url()
                }
                paid = gw.call(url, app, "pay", body)
                seen = [paid["result"]["resultCode"]]
                if i % 2:
                    refund = {
                        "refundRequestId": f"REF-{n}-{i}",
                        "paymentId": paid.get("paymentId", "none"),
                        "refundAmount": {"currency": "USD", "value": str(50)},
                    }
                    seen.append(gw.call(other, app, "refund", refund)["result"]["resultCode"])
                else:
                    cancel = {"paymentRequestId": f"MIX-{n}-{i}"}
                    seen.append(gw.call(other, app, "cancel", cancel)["result"]["resultCode"])
                with lock:
                    codes.update(seen)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))
    assert sum(codes.values()) >= 400
    assert codes["UNKNOWN_EXCEPTION"] == 0, codes
    assert codes["SUCCESS"] == sum(codes.values()), codes
    assert money(database) == before
    for p in two:
        assert "Deadlock" not in p.log()


def test_three_processes_started_at_once_on_a_fresh_database_all_come_up(
    tmp_path: Path, database: str
) -> None:
    procs = [EmulatorProcess(tmp_path / f"p{i}", database_url=database, tls_port=0) for i in range(3)]
    with ExitStack() as stack:
        for p in procs:
            stack.callback(p.stop)
        start_all(procs)
        seen = [httpx.get(f"{p.http_url}/_emulator/sandbox").json() for p in procs]
        # One seeded sandbox (each process advertises its own URLs, so compare identities).
        ids = [[(a["clientId"], a["merchantPublicKey"]) for a in s["applications"]] for s in seen]
        assert ids[0] == ids[1] == ids[2]
        assert seen[0]["alipayPublicKey"] == seen[1]["alipayPublicKey"] == seen[2]["alipayPublicKey"]
        engine = create_engine(database)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT COUNT(*) FROM application")).scalar() == len(
                    seen[0]["applications"]
                )
        finally:
            engine.dispose()


def _app(sandbox: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in sandbox["applications"] if a["role"] == "MERCHANT" and a["testCurrency"] == "USD")


@pytest.fixture
def gw() -> Iterator[SignedGateway]:
    g = SignedGateway()
    yield g
    g.close()


def within(seconds: float, check: Any) -> float:
    """Poll ``check()`` until true; returns how long it took (fails after ``seconds``)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not seen in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_clock_scenario_fault_and_journal_set_on_one_process_act_on_the_other(
    two: list[EmulatorProcess], gw: SignedGateway
) -> None:
    a, b = (EmulatorClient(p.http_url) for p in two)
    with a, b:
        app = _app(a.sandbox())
        # The clock: the changer at once, the other within a second (plus an HTTP round trip).
        assert a.advance_clock(seconds=3600)["offsetSeconds"] >= 3600
        assert a.clock()["offsetSeconds"] >= 3600
        took = within(2.0, lambda: b.clock()["offsetSeconds"] >= 3600)
        assert took < 1.5
        # A scenario with count=1 set on A fires once, on B, and never again anywhere.
        a.add_scenario(api="inquiryPayment", result_code="SYSTEM_ERROR", count=1)
        time.sleep(1.0)
        inquiry = {"paymentRequestId": "NOPE"}
        assert (
            gw.call(two[1].http_url, app, "inquiryPayment", inquiry)["result"]["resultCode"] == "SYSTEM_ERROR"
        )
        for p in two:
            assert (
                gw.call(p.http_url, app, "inquiryPayment", inquiry)["result"]["resultCode"]
                == "ORDER_NOT_EXIST"
            )
        # A transport fault set on B acts on A.
        b.add_fault(api="inquiryPayment", kind="http_status", status=503, count=1)
        time.sleep(1.0)
        assert gw.post(two[0].http_url, app, "inquiryPayment", inquiry).status_code == 503
        assert gw.post(two[1].http_url, app, "inquiryPayment", inquiry).status_code == 200
        assert b.faults() == [] or all(f["remaining"] == 0 for f in b.faults())
        # The journal: a call answered by B is listed by A (within a second).
        gw.call(two[1].http_url, app, "inquiryPayment", {"paymentRequestId": "SEEN-BY-A"})
        within(2.0, lambda: any("SEEN-BY-A" in e["body"] for e in a.requests(limit=5)))
        # Clearing on one clears for all.
        a.add_scenario(api="inquiryPayment", result_code="SYSTEM_ERROR", count=5)
        time.sleep(1.0)
        b.clear_scenarios()
        time.sleep(1.0)
        assert (
            gw.call(two[0].http_url, app, "inquiryPayment", inquiry)["result"]["resultCode"]
            == "ORDER_NOT_EXIST"
        )


def test_reset_on_one_process_while_the_other_serves_fails_no_pay(
    two: list[EmulatorProcess], gw: SignedGateway
) -> None:
    a, b = (EmulatorClient(p.http_url) for p in two)
    with a, b:
        app = _app(a.sandbox())
        buyer = next(x["loginId"] for x in a.sandbox()["buyers"] if x["behaviour"] == "normal")

        def pay(n: str) -> dict[str, Any]:
            body = pay_body(b.payment_code(buyer), request_id=n, amount=100) | {
                "paymentNotifyUrl": notify_url()
            }
            return gw.call(two[1].http_url, app, "pay", body)

        first = [pay(f"BEFORE-{i}") for i in range(5)]  # B now holds a block of payment ids
        a.reset()
        after = [pay(f"AFTER-{i}") for i in range(40)]
        assert {p["result"]["resultCode"] for p in first + after} == {"SUCCESS"}
        assert len({p["paymentId"] for p in after}) == 40
        # Resets racing with B's pays: a code issued before a reset is gone after it (the
        # sandbox is back to its seed), but no pay is ever answered U or refused by the transport.
        stop = threading.Event()
        seen: Counter[str] = Counter()

        def serve() -> None:
            i = 0
            while not stop.is_set() and i < 200:
                seen[pay(f"RACE-{i}")["result"]["resultCode"]] += 1
                i += 1

        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(serve)
            for _ in range(3):
                time.sleep(0.3)
                a.reset()
            stop.set()
            running.result()
        assert seen["SUCCESS"] > 0
        assert set(seen) <= {"SUCCESS", "USER_NOT_EXIST"}, seen


def test_300_pays_through_two_processes_notify_exactly_300_times(
    two: list[EmulatorProcess], gw: SignedGateway
) -> None:
    with NotificationReceiver() as receiver, EmulatorClient(two[0].http_url) as a:
        sandbox = a.sandbox()
        app = _app(sandbox)
        buyer = next(x["loginId"] for x in sandbox["buyers"] if x["behaviour"] == "normal")

        def pays(n: int) -> int:
            ok = 0
            with EmulatorClient(two[n % 2].http_url) as control:
                for i in range(75):
                    url = two[(n + i) % 2].http_url
                    body = pay_body(control.payment_code(buyer), request_id=f"N-{n}-{i}", amount=100)
                    body["paymentNotifyUrl"] = receiver.url
                    ok += gw.call(url, app, "pay", body)["result"]["resultCode"] == "SUCCESS"
                    if n == 0 and i == 40:
                        # A clock jump halfway (less than a code's lifetime): no lease expires.
                        a.advance_clock(seconds=30)
            return ok

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sum(pool.map(pays, range(4))) == 300
        try:
            notes = receiver.wait_for(300, timeout=60)
        except TimeoutError:
            # What happened to the ones missing (their attempts and errors), for the report.
            arrived = {json.loads(n.body)["paymentId"] for n in receiver.received}
            missing = [n for n in a.notifications(limit=1000) if n.get("paymentId") not in arrived]
            raise AssertionError(f"undelivered: {json.dumps(missing)[:4000]}") from None
        time.sleep(2.5)  # anything duplicated would arrive within the next ticks
        ids = [json.loads(n.body)["paymentId"] for n in receiver.received]
        assert len(ids) == len(set(ids)) == 300, (len(ids), len(set(ids)))
        assert len(notes) >= 300


def test_every_process_serves_the_same_ca_certificate_and_sftp_host_key(two: list[EmulatorProcess]) -> None:
    pems = [httpx.get(f"{p.http_url}/_emulator/ca.pem").text for p in two]
    assert pems[0] == pems[1] and "BEGIN CERTIFICATE" in pems[0]
    for name in ("tls/server.pem", "sftp/ssh_host_ed25519_key.pub"):
        assert (two[0].data_dir / name).read_bytes() == (two[1].data_dir / name).read_bytes(), name
    # Both HTTPS listeners present that certificate, trusted through the one CA.
    ca = two[0].data_dir / "tls" / "ca.pem"
    for p in two:
        trust = ssl.create_default_context(cafile=str(ca))
        assert httpx.get(f"https://localhost:{p.tls_port}/_emulator/health", verify=trust).status_code == 200


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_kill_9_of_one_worker_under_load_loses_no_acknowledged_payment(tmp_path: Path, database: str) -> None:
    proc = EmulatorProcess(
        tmp_path / "w", database_url=database, tls_port=0, env={"ALIPAY_EMULATOR_WORKERS": "2"}
    ).start(timeout=180)
    try:
        assert proc.proc is not None
        within(120, lambda: len(_children(proc.proc.pid)) == 2)  # type: ignore[union-attr]
        time.sleep(3)  # let the second worker finish its start-up
        with EmulatorClient(proc.http_url) as control:
            sandbox = control.sandbox()
        app = _app(sandbox)
        buyer = next(x["loginId"] for x in sandbox["buyers"] if x["behaviour"] == "normal")
        acknowledged: list[str] = []
        refused = [0]
        lock = threading.Lock()
        stop = threading.Event()

        def load(n: int) -> None:
            gw = SignedGateway(keepalive=False)  # a new connection per call: the kernel spreads them
            try:
                with EmulatorClient(proc.http_url) as control:
                    for i in range(400):
                        if stop.is_set():
                            break
                        rid = f"K-{n}-{i}"
                        try:
                            body = pay_body(control.payment_code(buyer), request_id=rid, amount=100)
                            body["paymentNotifyUrl"] = notify_url()
                            answer = gw.call(proc.http_url, app, "pay", body)
                        except Exception:  # a dropped connection: not acknowledged
                            with lock:
                                refused[0] += 1
                            continue
                        if answer["result"]["resultCode"] == "SUCCESS":
                            with lock:
                                acknowledged.append(rid)
            finally:
                gw.close()

        with ThreadPoolExecutor(max_workers=4) as pool:
            running = [pool.submit(load, n) for n in range(4)]
            within(120, lambda: len(acknowledged) >= 20)
            victim = _children(proc.proc.pid)[0]
            os.kill(victim, 9)
            killed_at = len(acknowledged)
            within(120, lambda: len(acknowledged) >= killed_at + 40)  # the survivor and the restart serve
            stop.set()
            for r in running:
                r.result()
        gw = SignedGateway()
        try:
            for rid in acknowledged:
                status = gw.call(proc.http_url, app, "inquiryPayment", {"paymentRequestId": rid})[
                    "paymentStatus"
                ]
                assert status == "SUCCESS", rid
        finally:
            gw.close()
        within(60, lambda: len(_children(proc.proc.pid)) == 2)  # type: ignore[union-attr]
        print(f"acknowledged {len(acknowledged)}, refused by the transport {refused[0]}")
    finally:
        assert proc.stop() == 0
