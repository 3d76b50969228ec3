"""Time ``POST /_emulator/reset`` alone (issue #15's reset target), without the whole gateway run.

    .venv/bin/python bench/reset_only.py [--sizes 10000,100000] [--repeat 3]
                                         [--databases sqlite,postgresql] [--postgres-url URL]

Starts the emulator and the notification receiver like ``bench/gateway.py`` (same environment,
a throwaway PostgreSQL database when a server URL is known), makes one real pay with a notify
URL and waits for its delivery, so a payment, its payment code, a notification and a delivery
attempt are stored. It then times the reset of the seeded sandbox, and for each size and
repeat stocks that many copies of the pay's rows straight into the database
(``bench/stock.py``, not timed) and times the reset over HTTP. Each reset also gets the
emulator's CPU time (user + system, from ``/proc``), steadier than wall time on a shared
machine. ``bench/gateway.py`` stays the benchmark of record.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from gateway import (
    HERE,
    Databases,
    Emulator,
    Options,
    Server,
    free_port,
    port_open,
    server_env,
    start_emulator,
    stored_payments,
    timed_reset,
)
from stock import Templates

from emulator.storage import Database


def options() -> Options:
    return Options(
        seconds=0,
        rounds=0,
        warmup=0,
        concurrency=0,
        inquiry_pool=0,
        max_pay=0,
        drain_timeout=0,
        healthy_runs=0,
        reset_sizes=(),
        rss_pays=0,
        quick=True,
        emulator_command=[sys.executable, "-m", "emulator", "serve"],
        workers=0,
    )


def one_pay(emu: Emulator, receiver_port: int) -> None:
    """One signed pay with a notify URL; returns once the receiver has its notification."""
    code = httpx.post(f"{emu.base}/buyers/{emu.buyer}/payment-codes", timeout=30).json()["paymentCode"]
    with socket.create_connection(("127.0.0.1", emu.server.port), timeout=30) as s:
        s.sendall(emu.signer.pay(code, f"RESET-{time.time_ns()}"))
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < int(
            answer.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0]
        ):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    if b'"resultCode":"SUCCESS"' not in answer:
        raise SystemExit(f"pay failed: {answer!r}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"http://127.0.0.1:{receiver_port}/stats", timeout=5).json().get("total", 0) >= 1:
            time.sleep(0.5)  # the delivery attempt is stored after the receiver answered
            return
        time.sleep(0.05)
    raise SystemExit("the notification never arrived")


def measured_reset(emu: Emulator) -> dict[str, float]:
    cpu = emu.server.cpu_seconds()
    ms = timed_reset(emu)
    after = emu.server.cpu_seconds()
    out = {"ms": round(ms, 1)}
    if cpu is not None and after is not None:
        out["cpuMs"] = round((after - cpu) * 1000, 1)
    return out


def run(kind: str, server_url: str | None, sizes: list[int], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"database": kind}
    with tempfile.TemporaryDirectory(prefix="alipay-reset-") as tmp:
        workdir = Path(tmp)
        databases = Databases(kind, workdir, server_url)
        receiver_port = free_port()
        receiver = Server(
            name="receiver",
            argv=[sys.executable, str(HERE / "receiver.py"), "--port", str(receiver_port)],
            env=server_env(workdir / "receiver", receiver_port),
            port=receiver_port,
            log_path=workdir / "receiver.log",
        )
        started = [receiver]
        try:
            receiver.start(lambda: port_open(receiver_port))
            emu, _ = start_emulator("emulator", options(), workdir, databases, receiver_port)
            started.append(emu.server)
            one_pay(emu, receiver_port)
            db = Database(emu.database_url)
            try:
                templates = Templates.read(db)
                out["seeded"] = [measured_reset(emu) for _ in range(repeat)]
                print(f"{kind}: seeded sandbox: {out['seeded']}", flush=True)
                for size in sizes:
                    runs = []
                    for r in range(repeat):
                        templates.store(db, size, batch=f"{size}r{r}")
                        stored = stored_payments(db)
                        runs.append({"payments": stored, **measured_reset(emu)})
                        print(f"{kind}: {runs[-1]}", flush=True)
                    out[str(size)] = {"runs": runs, "medianMs": statistics.median(x["ms"] for x in runs)}
            finally:
                db.dispose()
        finally:
            for server in reversed(started):
                server.stop()
            databases.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="payments stored before a timed reset")
    parser.add_argument("--repeat", type=int, default=3, help="timed resets per size")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("ALIPAY_EMULATOR_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    results = []
    load = [round(x, 2) for x in os.getloadavg()]
    for kind in args.databases.split(","):
        url = args.postgres_url if kind == "postgresql" else None
        if kind == "postgresql" and not url:
            print("postgresql: no server URL, skipped")
            continue
        results.append(run(kind, url, sizes, args.repeat))
    report = {
        "loadAverageAtStart": load,
        "loadAverageAtEnd": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
