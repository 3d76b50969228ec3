"""Several emulator processes on one PostgreSQL database are one sandbox (issue #13)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from emulator.testing import EmulatorClient

from .conftest import pay_body
from .support import POSTGRES_ENV, EmulatorProcess, postgres_database, signed_post

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
        return list(pool.map(lambda p: p.start(timeout=60), procs))


@pytest.fixture
def two(tmp_path: Path, database: str) -> Iterator[list[EmulatorProcess]]:
    procs = [EmulatorProcess(tmp_path / f"p{i}", database_url=database, tls_port=0) for i in range(2)]
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
    two: list[EmulatorProcess], database: str
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
                paid = signed_post(url, app, "pay", body)
                seen = [paid["result"]["resultCode"]]
                if i % 2:
                    refund = {
                        "refundRequestId": f"REF-{n}-{i}",
                        "paymentId": paid.get("paymentId", "none"),
                        "refundAmount": {"currency": "USD", "value": str(50)},
                    }
                    seen.append(signed_post(other, app, "refund", refund)["result"]["resultCode"])
                else:
                    cancel = {"paymentRequestId": f"MIX-{n}-{i}"}
                    seen.append(signed_post(other, app, "cancel", cancel)["result"]["resultCode"])
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
        assert seen[0]["applications"] == seen[1]["applications"] == seen[2]["applications"]
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
