"""Gateway benchmark (issue #15): what users run, against a floor app measured in the same run.

    .venv/bin/python bench/gateway.py [--quick] [--seconds 10] [--rounds 5] [--postgres-url URL]
                                      [--json results.json]

Starts ``python -m emulator serve``, ``bench/floor.py`` (signature check + fixed signed answer,
same uvicorn settings) and ``bench/receiver.py`` (a merchant's notification endpoint that
acknowledges everything) as subprocesses on free loopback ports. Every request is signed before
any clock starts; every ``pay`` carries a ``paymentNotifyUrl`` to the live receiver. The
generator keeps 16 keep-alive HTTP/1.1 connections busy (one request in flight each) and
alternates floor and emulator in rounds; each round gives one emulator/floor throughput ratio
and the report takes their median. Measured per database (SQLite, and PostgreSQL when a server
URL is given): inquiryPayment, pay, cancel and refund, server CPU per request, notification
delivery, time to healthy, reset with many payments stored, RSS after many pays, two
processes when the emulator can serve with ``--workers``, and inquiryPayment and pay with the
request journal on (the emulator's default; the other parts run without it). The issue's
targets are printed with PASS/FAIL (see bench/README.md). Exit status: 0 when every answer was right (targets met or
not), 1 on a wrong or missing answer, 2 when a server does not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from emulator.payments.models import Payment
from emulator.settings import Settings
from emulator.signing import (
    SignatureMismatch,
    canonical_message,
    load_private_key,
    load_public_key,
    parse_signature_header,
    sign,
    signature_header,
    verify,
)
from emulator.storage import Database, disposable_engine

HERE = Path(__file__).resolve().parent
API_BASE = "/ams/sandbox/api/v1/payments/"
PATHS = {api: API_BASE + api for api in ("pay", "inquiryPayment", "cancel", "refund")}
PAY_NOTIFY_PATH = "/notify/payment"
REFUND_NOTIFY_PATH = "/notify/refund"

# The issue's targets (#15): ratios to the floor in the same run, latencies on the emulator.
# They live here, in the report, never in a timed unit test.
TARGETS = (
    ("inquiryRatio", "inquiryPayment >= 0.8x floor", ">=", 0.8, "x"),
    ("payRatio", "pay >= 0.5x floor", ">=", 0.5, "x"),
    ("inquiryP99", "inquiryPayment p99 < 25 ms", "<", 25.0, " ms"),
    ("payP99", "pay p99 < 40 ms", "<", 40.0, " ms"),
    ("healthy", "time to healthy < 1.2 s", "<", 1.2, " s"),
    ("reset100k", "reset with 100k payments < 200 ms", "<", 200.0, " ms"),
)

SUCCESS = b'"resultCode":"SUCCESS"'
PAID = b'"paymentStatus":"SUCCESS"'
# Responses whose signature is checked in full (the rest are checked for the markers above).
VERIFIED_SAMPLES = 5


# -- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


JOURNAL_SETTING = "ALIPAY_EMULATOR_JOURNAL_ENABLED"
PASSED_THROUGH = ("ALIPAY_EMULATOR_FIXTURES", "ALIPAY_EMULATOR_SIGNING_THREADS", JOURNAL_SETTING)


def server_env(
    data_dir: Path, port: int, database_url: str | None = None, settings: dict[str, str] | None = None
) -> dict[str, str]:
    """One environment for every server: loopback, no TLS/SFTP, quiet logs, no journal unless
    ``ALIPAY_EMULATOR_JOURNAL_ENABLED`` says otherwise (``PASSED_THROUGH``); ``settings`` last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
    env.update(
        ALIPAY_EMULATOR_HOST="127.0.0.1",
        ALIPAY_EMULATOR_PORT=str(port),
        ALIPAY_EMULATOR_TLS_PORT="0",
        ALIPAY_EMULATOR_SFTP_PORT="0",
        ALIPAY_EMULATOR_DATA_DIR=str(data_dir),
        ALIPAY_EMULATOR_JOURNAL_ENABLED="false",
        ALIPAY_EMULATOR_LOG_LEVEL="warning",
    )
    if database_url:
        env["ALIPAY_EMULATOR_DATABASE_URL"] = database_url
    # Passed through: other fixtures, the signing threads and the journal (to compare settings).
    for name in PASSED_THROUGH:
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(settings or {})
    return env


class ServerStartError(RuntimeError):
    pass


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``): the workers of a multi-process server."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree = [pid]
    for p in tree:  # grows while it is walked: breadth-first
        tree.extend(children.get(p, []))
    return tree


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    processes: int = 1
    proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool], timeout: float = 60.0) -> float:
        """Start and wait until ``ready``; the seconds from exec to ready."""
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=HERE.parent
            )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"{self.name} exited with {self.proc.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if ready():
                    return time.perf_counter() - started
            time.sleep(0.01)
        raise ServerStartError(f"{self.name} not ready after {timeout:.0f} s")

    def pids(self) -> list[int]:
        """The server's processes: with the emulator, its notification worker and any
        ``--workers`` processes, so CPU and memory are what the whole emulator costs."""
        if self.proc is None:
            return []
        return process_tree(self.proc.pid)

    def cpu_seconds(self, *, main_only: bool = False) -> float | None:
        """User + system CPU of the server (all threads, all its processes, or with ``main_only``
        the one started); None off Linux."""
        total = 0.0
        pids = ([self.proc.pid] if self.proc else []) if main_only else self.pids()
        for pid in pids:
            fields = _stat_fields(pid)
            if fields is None:
                return None
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        return total / os.sysconf("SC_CLK_TCK") if pids else None

    def rss_mb(self) -> float | None:
        """Resident memory of the server (summed over its processes), MB."""
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                return None
            total += next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
            )
        return round(total / 1024, 1) if total else None

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit status, or None when it was not running any more."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/_emulator/health")
        return conn.getresponse().status == 200
    finally:
        conn.close()


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    client_id: str
    key: rsa.RSAPrivateKey
    currency: str
    notify_base: str  # the receiver, e.g. http://127.0.0.1:8282

    def request(self, path: str, payload: dict[str, Any]) -> bytes:
        """The whole HTTP/1.1 request, signed like the Python SDK (indent-3 body, ISO time)."""
        body = json.dumps(payload, indent=3).encode()
        req_time = datetime.now(UTC).replace(microsecond=0).isoformat()
        message = canonical_message(
            method="POST", path=path, client_id=self.client_id, time=req_time, body=body
        )
        head = (
            f"POST {path} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n"
            "Content-Type: application/json; charset=UTF-8\r\n"
            f"client-id: {self.client_id}\r\n"
            f"Request-Time: {req_time}\r\n"
            f"Signature: {signature_header(sign(message, self.key))}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    def pay(self, code: str, request_id: str) -> bytes:
        amount = {"currency": self.currency, "value": "100"}
        return self.request(
            PATHS["pay"],
            {
                "productCode": "IN_STORE_PAYMENT",
                "paymentRequestId": request_id,
                "order": {
                    "referenceOrderId": f"ORDER-{request_id}",
                    "orderDescription": "bench order",
                    "orderAmount": amount,
                    "merchant": {
                        "referenceMerchantId": "M1",
                        "merchantMCC": "5411",
                        "merchantName": "Shop",
                        "store": {
                            "referenceStoreId": "S1",
                            "storeName": "Store",
                            "storeMCC": "5411",
                        },
                    },
                    "env": {
                        "storeTerminalId": "T1",
                        "storeTerminalRequestTime": "2026-11-26T10:00:00+08:00",
                    },
                },
                "paymentAmount": amount,
                "paymentMethod": {"paymentMethodType": "CONNECT_WALLET", "paymentMethodId": code},
                "paymentFactor": {"inStorePaymentScenario": "PaymentCode"},
                # Every real pay names where its result goes (the fidelity issue, #12).
                "paymentNotifyUrl": self.notify_base + PAY_NOTIFY_PATH,
            },
        )

    def inquiry(self, payment_id: str) -> bytes:
        return self.request(PATHS["inquiryPayment"], {"paymentId": payment_id})

    def cancel(self, payment_id: str) -> bytes:
        return self.request(PATHS["cancel"], {"paymentId": payment_id})

    def refund(self, payment_id: str, request_id: str) -> bytes:
        return self.request(
            PATHS["refund"],
            {
                "refundRequestId": request_id,
                "paymentId": payment_id,
                "refundAmount": {"currency": self.currency, "value": "1"},
                "refundNotifyUrl": self.notify_base + REFUND_NOTIFY_PATH,
            },
        )


def control_request(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".encode()


# -- load generator -------------------------------------------------------------------------


@dataclass
class Response:
    index: int
    head: bytes
    body: bytes


@dataclass
class Run:
    """What one server answered in one slice (or one setup pass)."""

    markers: tuple[bytes, ...]
    keep_bodies: bool = False
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[Response] = field(default_factory=list)
    bad: list[Response] = field(default_factory=list)
    bodies: dict[int, bytes] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu_seconds: float | None = 0.0
    main_cpu_seconds: float | None = 0.0  # the process started (the emulator's serving one)
    exhausted: bool = False
    last: float = 0.0
    # Waiting after the slice for the notifications of its answers (``Bench.settle``): part of
    # ``elapsed``, kept apart to be reported.
    settle_seconds: float = 0.0

    def record(self, index: int, latency: float, now: float, head: bytes, body: bytes) -> None:
        self.latencies.append(latency)
        self.last = now
        problem = None
        if not head.startswith(b"HTTP/1.1 200"):
            problem = "HTTP " + head[9:12].decode("latin-1", errors="replace")
        elif not all(m in body for m in self.markers):
            problem = "unexpected answer"
        if problem is not None:
            self.errors[problem] += 1
            if len(self.bad) < 3:
                self.bad.append(Response(index, head, body))
        elif len(self.samples) < VERIFIED_SAMPLES:
            self.samples.append(Response(index, head, body))
        if self.keep_bodies:
            self.bodies[index] = body

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


class Feed:
    """Hands out pre-built requests ``start..stop``: each once, or round-robin, until the deadline."""

    def __init__(
        self, requests: Sequence[bytes], *, cycle: bool, start: int = 0, stop: int | None = None
    ) -> None:
        self._requests = requests
        self._cycle = cycle
        self._start = start
        self._stop = len(requests) if stop is None else stop
        self._next = start
        self.deadline = math.inf
        self.exhausted = False

    def take(self) -> tuple[int, bytes] | None:
        if time.perf_counter() >= self.deadline:
            return None
        i = self._next
        if i >= self._stop:
            if not self._cycle:
                self.exhausted = True
                return None
            i = self._start
        self._next = i + 1
        return i, self._requests[i]

    def unsent(self) -> range:
        return range(self._next, self._stop) if not self._cycle else range(0)


def split(requests: Sequence[bytes], parts: int) -> list[Feed]:
    """One-shot feeds over equal shares, one per round (a share running out ends its slice)."""
    size = len(requests) // parts
    return [
        Feed(requests, cycle=False, start=i * size, stop=len(requests) if i == parts - 1 else (i + 1) * size)
        for i in range(parts)
    ]


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight; responses framed by Content-Length."""

    def __init__(self, feed: Feed, run: Run, done: asyncio.Future[None]) -> None:
        self._feed = feed
        self._run = run
        self._done = done
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._index = -1
        self._sent = 0.0
        self._head_end = -1
        self._need = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_next(self) -> None:
        item = self._feed.take()
        if item is None:
            self.finish()
            return
        self._index, data = item
        self._head_end = self._need = -1
        self._sent = time.perf_counter()
        assert self._transport is not None
        self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head_end = end + 4
            head = bytes(buf[:end]).lower()
            pos = head.find(b"\r\ncontent-length:")
            if pos < 0:
                self._run.errors["response without Content-Length"] += 1
                self.finish()
                return
            stop = head.find(b"\r\n", pos + 2)
            self._need = self._head_end + int(head[pos + 17 : stop if stop >= 0 else None])
        if len(buf) < self._need:
            return
        now = time.perf_counter()
        head, body = bytes(buf[: self._head_end]), bytes(buf[self._head_end : self._need])
        del buf[: self._need]
        self._run.record(self._index, now - self._sent, now, head, body)
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._run.errors["connection closed by the server"] += 1
            self._done.set_result(None)

    def finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
        if self._transport is not None:
            self._transport.close()


async def drive(server: Server, feed: Feed, run: Run, *, concurrency: int, seconds: float = math.inf) -> None:
    """Open every connection, then start the clock and keep each one busy until the deadline.

    Adds the time from the first request to the last answer to ``run.elapsed`` and the
    server's CPU time over that window to ``run.cpu_seconds``.
    """
    loop = asyncio.get_running_loop()
    conns: list[tuple[Connection, asyncio.Future[None]]] = []
    for _ in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        _, proto = await loop.create_connection(
            lambda done=done: Connection(feed, run, done), "127.0.0.1", server.port
        )
        conns.append((proto, done))
    gc.collect()
    gc.disable()  # no collector pauses inside the measured window
    try:
        cpu_before, main_before = server.cpu_seconds(), server.cpu_seconds(main_only=True)
        started = run.last = time.perf_counter()
        feed.deadline = started + seconds
        for proto, _ in conns:
            proto.send_next()
        _, pending = await asyncio.wait([d for _, d in conns], timeout=seconds + 60)
        cpu_after, main_after = server.cpu_seconds(), server.cpu_seconds(main_only=True)
    finally:
        gc.enable()
    if pending:
        run.errors["no answer within 60 s after the deadline"] += len(pending)
        for proto, _ in conns:
            proto.finish()
    run.elapsed += run.last - started
    run.cpu_seconds = _added(run.cpu_seconds, cpu_before, cpu_after)
    run.main_cpu_seconds = _added(run.main_cpu_seconds, main_before, main_after)
    run.exhausted = run.exhausted or feed.exhausted


def _added(total: float | None, before: float | None, after: float | None) -> float | None:
    """``total`` plus the CPU seconds between two readings; None once any reading is missing."""
    if total is None or before is None or after is None:
        return None
    return total + after - before


# -- results --------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Series:
    """One server's answers to one API over every round of a comparison."""

    api: str
    server: str
    rounds: list[Run] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(r.latencies) for r in self.rounds)

    @property
    def rps(self) -> float:
        elapsed = sum(r.elapsed for r in self.rounds)
        return self.requests / elapsed if elapsed > 0 else 0.0

    @property
    def cpu_ms(self) -> float | None:
        return self._per_request([r.cpu_seconds for r in self.rounds])

    @property
    def main_cpu_ms(self) -> float | None:
        return self._per_request([r.main_cpu_seconds for r in self.rounds])

    def _per_request(self, cpus: list[float | None]) -> float | None:
        if any(c is None for c in cpus) or not self.requests:
            return None
        return sum(c for c in cpus if c is not None) * 1000 / self.requests

    def summary(self) -> dict[str, Any]:
        lat = sorted(x for r in self.rounds for x in r.latencies)
        cpu = self.cpu_ms
        errors: Counter[str] = Counter()
        for r in self.rounds:
            errors.update(r.errors)
        return {
            "api": self.api,
            "server": self.server,
            "requests": self.requests,
            "requestsPerSecond": round(self.rps, 1),
            "roundRequestsPerSecond": [round(r.rps, 1) for r in self.rounds],
            "p50Ms": round(percentile(lat, 50) * 1000, 2),
            "p99Ms": round(percentile(lat, 99) * 1000, 2),
            "maxMs": round(lat[-1] * 1000, 2) if lat else None,
            "serverCpuMsPerRequest": None if cpu is None else round(cpu, 3),
            "mainProcessCpuMsPerRequest": None if self.main_cpu_ms is None else round(self.main_cpu_ms, 3),
            "ranOutOfRequests": any(r.exhausted for r in self.rounds),
            "notificationSettleSeconds": [round(r.settle_seconds, 3) for r in self.rounds],
            "errors": dict(errors),
        }


@dataclass
class Comparison:
    api: str
    floor: Series
    emulator: Series

    def ratios(self) -> list[float]:
        return [
            e.rps / f.rps if f.rps else 0.0
            for e, f in zip(self.emulator.rounds, self.floor.rounds, strict=True)
        ]

    def summary(self) -> dict[str, Any]:
        ratios = self.ratios()
        e_cpu, f_cpu = self.emulator.cpu_ms, self.floor.cpu_ms
        return {
            "api": self.api,
            "emulator": self.emulator.summary(),
            "floor": self.floor.summary(),
            "roundRatios": [round(r, 3) for r in ratios],
            "medianRatio": round(statistics.median(ratios), 3) if ratios else None,
            "cpuPerRequestEmulatorOverFloor": round(e_cpu / f_cpu, 2) if e_cpu and f_cpu else None,
        }


def verify_samples(
    samples: Sequence[tuple[bytes, bytes]], path: str, alipay_key: rsa.RSAPublicKey, client_id: str
) -> list[str]:
    """Check the signature of a few signed messages exactly as an SDK or merchant would (spec §2.5)."""
    failures: list[str] = []
    for head, body in samples:
        headers = parse_headers(head)
        try:
            if headers.get("client-id") != client_id:
                raise SignatureMismatch(f"client-id {headers.get('client-id')!r} not echoed")
            parsed = parse_signature_header(headers.get("signature", ""))
            message = canonical_message(
                method="POST",
                path=path,
                client_id=client_id,
                time=headers.get("response-time") or headers.get("request-time", ""),
                body=body,
            )
            verify(message, parsed.signature, alipay_key)
        except SignatureMismatch as exc:
            failures.append(str(exc))
    if not failures:
        return []
    return [f"{len(failures)} of {len(samples)} sampled signatures fail: {failures[0]}"]


def parse_headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, sep, value in (line.partition(":") for line in lines)
        if sep
    }


class BenchError(RuntimeError):
    """A wrong or missing answer: the run cannot produce honest figures."""


def say(text: str) -> None:
    """Progress, on stderr (the report goes to stdout)."""
    print(text, file=sys.stderr, flush=True)


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float
    rounds: int
    warmup: float
    concurrency: int
    inquiry_pool: int
    max_pay: int
    drain_timeout: float
    healthy_runs: int
    reset_sizes: tuple[int, ...]
    rss_pays: int
    quick: bool
    emulator_command: list[str]
    workers: int  # 0: the emulator cannot serve with --workers, so two processes are not measured
    profile_dir: Path | None = None
    py_spy: str = "py-spy"
    profile_gil: bool = False
    journal_part: bool = True  # also inquiryPayment and pay with the journal on (the default)


@dataclass
class Emulator:
    """One emulator under test and what the benchmark learnt of it."""

    server: Server
    signer: Signer
    buyer: str
    alipay_key: rsa.RSAPublicKey
    database_url: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/_emulator"


# -- the benchmark of one database ----------------------------------------------------------


@dataclass
class Bench:
    opts: Options
    floor: Server
    receiver: Server
    problems: list[str] = field(default_factory=list)
    setup_rate: float = 0.0

    # -- plumbing --------------------------------------------------------------------------

    def check(self, run: Run, what: str) -> None:
        for problem, n in run.errors.items():
            self.problems.append(f"{what}: {n} x {problem}")
        for response in run.bad:
            snippet = (response.head + response.body)[:400].decode("utf-8", errors="replace")
            self.problems.append(f"{what}: e.g. {snippet!r}")
        if self.problems:
            raise BenchError(self.problems[0])

    async def setup_calls(
        self, emu: Emulator, requests: Sequence[bytes], what: str, marker: bytes, *, keep: bool = True
    ) -> list[bytes]:
        """Send each request once to the emulator (untimed); the answers, in request order."""
        run = Run(markers=(marker,), keep_bodies=keep)
        await drive(emu.server, Feed(requests, cycle=False), run, concurrency=self.opts.concurrency)
        self.check(run, what)
        if len(run.latencies) != len(requests):
            raise BenchError(f"{what}: {len(run.latencies)} answers to {len(requests)} requests")
        self.setup_rate = run.rps
        return [run.bodies[i] for i in range(len(requests))] if keep else []

    async def issue_codes(self, emu: Emulator, count: int) -> list[str]:
        request = control_request(f"/_emulator/buyers/{emu.buyer}/payment-codes")
        bodies = await self.setup_calls(emu, [request] * count, "issuing payment codes", b"paymentCode")
        return [json.loads(body)["paymentCode"] for body in bodies]

    async def new_pays(self, emu: Emulator, count: int, prefix: str) -> list[bytes]:
        codes = await self.issue_codes(emu, count)
        return [emu.signer.pay(code, f"{prefix}{i:07d}") for i, code in enumerate(codes)]

    def receiver_stats(self) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.receiver.port, timeout=10)
        try:
            conn.request("GET", "/stats")
            data: dict[str, Any] = json.loads(conn.getresponse().read())
            return data
        finally:
            conn.close()

    async def warm(self, server: Server, requests: Sequence[bytes]) -> None:
        run = Run(markers=(SUCCESS,))
        await drive(
            server,
            Feed(requests, cycle=True),
            run,
            concurrency=self.opts.concurrency,
            seconds=self.opts.warmup,
        )
        self.check(run, f"warm-up on the {server.name}")

    async def compare(
        self,
        api: str,
        emu: Emulator,
        requests: Sequence[bytes],
        *,
        emulator_cycles: bool,
        keep_bodies: bool = False,
        notified: str | None = None,
    ) -> Comparison:
        """Floor and emulator alternating in rounds; one ratio per round (median reported).

        ``notified``: the kind of notification each successful answer makes. Each emulator round
        then lasts until the receiver holds its notifications (``settle``): their delivery is
        charged to that round, in time and CPU, and never runs on into the floor's round after
        it (background load landing on one side, issue #15 item 4).
        """
        rounds = self.opts.rounds
        floor_feed = Feed(requests, cycle=True)  # the floor keeps no state: it may see repeats
        emu_feeds = [Feed(requests, cycle=True)] * rounds if emulator_cycles else split(requests, rounds)
        markers = (SUCCESS, PAID) if api == "inquiryPayment" else (SUCCESS,)
        floor = Series(api, self.floor.name)
        emulator = Series(api, emu.server.name)
        slice_seconds = self.opts.seconds / rounds
        expected = await self.quiet_count(notified) if notified else 0
        profilers = self.start_profilers(api, emu)
        try:
            for i in range(rounds):
                floor_run = Run(markers=(SUCCESS,))
                emu_run = Run(markers=markers, keep_bodies=keep_bodies)
                order = [(self.floor, floor_feed, floor_run), (emu.server, emu_feeds[i], emu_run)]
                for server, feed, run in order if i % 2 == 0 else order[::-1]:
                    await drive(server, feed, run, concurrency=self.opts.concurrency, seconds=slice_seconds)
                    if notified and run is emu_run:
                        expected += len(run.latencies) - sum(run.errors.values())
                        await self.settle(emu.server, notified, expected, run)
                floor.rounds.append(floor_run)
                emulator.rounds.append(emu_run)
        finally:
            for profiler in profilers:
                profiler.send_signal(signal.SIGINT)
                await asyncio.to_thread(profiler.wait)
        for series in (floor, emulator):
            what = f"{api} on the {series.server}"
            samples = [(s.head, s.body) for r in series.rounds for s in r.samples][:VERIFIED_SAMPLES]
            self.problems.extend(
                f"{what}: {p}"
                for p in verify_samples(samples, PATHS[api], emu.alipay_key, emu.signer.client_id)
            )
            if not samples:
                self.problems.append(f"{what}: no answers")
            for run in series.rounds:
                self.check(run, what)
        result = Comparison(api, floor, emulator)
        s = result.summary()
        say(
            f"  {api}: emulator {emulator.rps:.0f} req/s, floor {floor.rps:.0f} req/s, "
            f"ratios {s['roundRatios']} (median {s['medianRatio']}), emulator p99 "
            f"{s['emulator']['p99Ms']:.1f} ms"
        )
        return result

    def start_profilers(self, api: str, emu: Emulator) -> list[subprocess.Popen[bytes]]:
        """``--profile DIR``: py-spy the emulator and the floor through a measurement (skews
        their figures; the floor's profile shows what the two share)."""
        if self.opts.profile_dir is None:
            return []
        return [
            self.start_profiler(api, emu, server)
            for server in (emu.server, self.floor)
            if server.proc is not None
        ]

    def start_profiler(self, api: str, emu: Emulator, server: Server) -> subprocess.Popen[bytes]:
        assert self.opts.profile_dir is not None and server.proc is not None
        # The floor is measured beside each emulator (one process, then --workers): one file each.
        name = server.name if server is not self.floor else f"{self.floor.name}-{emu.server.name}"
        out = self.opts.profile_dir / f"{api}-{name}.folded"
        say(f"  profiling the {server.name} into {out}")
        return subprocess.Popen(
            [
                self.opts.py_spy,
                "record",
                "--pid",
                str(server.proc.pid),
                "--rate",
                "250",
                "--nonblocking",
                "--subprocesses",
                *(["--gil"] if self.opts.profile_gil else []),
                "--format",
                "raw",  # folded stacks: flamegraph.pl, speedscope and a text editor read them
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def check_notifications(self, emu: Emulator, stats: dict[str, Any]) -> None:
        samples = [(s["head"].encode("latin-1"), s["body"].encode()) for s in stats["samples"]]
        by_path: dict[str, list[tuple[bytes, bytes]]] = {}
        for head, body in samples:
            path = head.split(b" ", 2)[1].decode("latin-1")
            by_path.setdefault(path, []).append((head, body))
        for path, items in by_path.items():
            self.problems.extend(
                f"notifications to {path}: {p}"
                for p in verify_samples(items, path, emu.alipay_key, emu.signer.client_id)
            )
        if stats["unreadable"]:
            self.problems.append(f"receiver: {stats['unreadable']} unreadable notifications")

    def received(self, kind: str) -> int:
        """Notifications of ``kind`` received, redeliveries included (ids repeat across suites:
        each starts on a fresh database)."""
        return int(self.receiver_stats()["received"].get(kind, 0))

    async def quiet_count(self, kind: str, quiet: float = 0.3) -> int:
        """``received(kind)`` once it has not grown for ``quiet`` s (bounded by the drain
        timeout): earlier deliveries are done before a comparison starts."""
        deadline = time.perf_counter() + self.opts.drain_timeout
        count = self.received(kind)
        while time.perf_counter() < deadline:
            await asyncio.sleep(quiet)
            now = self.received(kind)
            if now == count:
                break
            count = now
        return count

    async def wait_for(self, count: Callable[[], int], expected: int, pause: float) -> tuple[int, float]:
        """Poll ``count()`` until it reaches ``expected`` or the drain timeout passes; answers
        the last count and the seconds waited."""
        started = time.perf_counter()
        deadline = started + self.opts.drain_timeout
        while (got := count()) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(pause)
        return got, time.perf_counter() - started

    async def settle(self, server: Server, kind: str, expected: int, run: Run) -> None:
        """Wait (bounded) until the receiver holds ``expected`` notifications of ``kind``; the
        wait, and the server's CPU meanwhile, count as part of ``run``."""
        cpu_before, main_before = server.cpu_seconds(), server.cpu_seconds(main_only=True)
        got, waited = await self.wait_for(lambda: self.received(kind), expected, 0.005)
        if got < expected:
            self.problems.append(
                f"{kind}: {expected - got} notifications of a {server.name} round not received "
                f"{self.opts.drain_timeout:g} s after it"
            )
        run.elapsed += waited
        run.settle_seconds += waited
        run.cpu_seconds = _added(run.cpu_seconds, cpu_before, server.cpu_seconds())
        run.main_cpu_seconds = _added(run.main_cpu_seconds, main_before, server.cpu_seconds(main_only=True))

    async def drain(self, kind: str, expected: int) -> dict[str, Any]:
        """Wait (bounded) until the receiver holds ``expected`` distinct notifications of ``kind``."""
        got, waited = await self.wait_for(
            lambda: int(self.receiver_stats()["unique"].get(kind, 0)), expected, 0.05
        )
        return {
            "expected": expected,
            "received": got,
            "drainSeconds": round(waited, 2) if got >= expected else None,
            "backlogAfterWait": max(0, expected - got),
        }

    # -- the measurements ------------------------------------------------------------------

    async def measure(self, emu: Emulator, *, everything: bool) -> dict[str, Any]:
        """inquiryPayment and pay; with ``everything``, also notifications, cancel and refund."""
        opts = self.opts
        out: dict[str, Any] = {"server": emu.server.name, "processes": emu.server.processes}
        # 1. Payments to inquire about; creating them is also the emulator's pay warm-up.
        say(f"setup ({emu.server.name}): {opts.inquiry_pool} payments to inquire about ...")
        warm_pays = await self.new_pays(emu, opts.inquiry_pool, "BENCH-W-")
        bodies = await self.setup_calls(emu, warm_pays, "creating payments", SUCCESS)
        pay_rate = self.setup_rate
        inquiries = [emu.signer.inquiry(json.loads(body)["paymentId"]) for body in bodies]
        paid = len(bodies)

        # 2. A fresh payment code and a signed pay per emulator pay request: a used code or a
        # repeated paymentRequestId would measure the idempotent replay instead.
        budget = min(opts.max_pay, int(pay_rate * opts.seconds * 2.5) + 300)
        say(f"setup ({emu.server.name}): {budget} payment codes and signed pay requests ...")
        pays = await self.new_pays(emu, budget, "BENCH-P-")

        say(f"warm-up: {opts.warmup:g} s per server and API ...")
        await self.warm(self.floor, inquiries)
        await self.warm(emu.server, inquiries)
        await self.warm(self.floor, pays)

        say(
            f"measuring ({emu.server.name}): {opts.seconds:g} s per server and API in {opts.rounds} "
            f"rounds alternating with the floor, {opts.concurrency} connections"
        )
        out["rssMbBefore"] = emu.server.rss_mb()
        comparisons = [await self.compare("inquiryPayment", emu, inquiries, emulator_cycles=True)]
        before = self.receiver_stats()["unique"].get("PAYMENT_RESULT", 0)
        pay = await self.compare(
            "pay", emu, pays, emulator_cycles=False, keep_bodies=True, notified="PAYMENT_RESULT"
        )
        comparisons.append(pay)
        during = self.receiver_stats()["unique"].get("PAYMENT_RESULT", 0) - before
        answered = {i: b for r in pay.emulator.rounds for i, b in r.bodies.items()}
        paid += len(answered)
        out["payments"] = paid
        if not everything:
            out["comparisons"] = [c.summary() for c in comparisons]
            return out

        # 3. Notifications of the measured pays: how many arrived inside the window, how long
        # the rest took.
        notes = await self.drain("PAYMENT_RESULT", paid)
        notes["deliveredDuringPayMeasurement"] = during
        notes["paysInPayMeasurement"] = len(answered)
        out["payNotifications"] = notes
        say(
            f"  notifications: {during} of {len(answered)} delivered during the pay measurement; "
            + (
                f"all {paid} received {notes['drainSeconds']} s after it"
                if notes["drainSeconds"] is not None
                else f"{notes['backlogAfterWait']} still undelivered {opts.drain_timeout:g} s after it"
            )
        )

        # 4. Cancel and refund over the measured payments (each payment cancelled once; refunds
        # of 1 minor unit, round-robin over payments kept apart for them).
        payment_ids = [json.loads(answered[i])["paymentId"] for i in sorted(answered)]
        reserve = min(len(payment_ids) // 2, max(64, len(payment_ids) // 10))
        refund_ids, cancel_ids = payment_ids[:reserve], payment_ids[reserve:]
        need = int(pay.emulator.rps * opts.seconds * 2.0) + 300
        leftover = sorted(set(range(len(pays))) - set(answered))
        if len(cancel_ids) < need and leftover:
            extra = [pays[i] for i in leftover[: need - len(cancel_ids)]]
            say(f"setup ({emu.server.name}): {len(extra)} more payments to cancel ...")
            extra_bodies = await self.setup_calls(emu, extra, "creating payments to cancel", SUCCESS)
            cancel_ids += [json.loads(b)["paymentId"] for b in extra_bodies]
            paid += len(extra)
        refunds_wanted = min(len(refund_ids) * 100, int(pay.emulator.rps * opts.seconds * 2.5) + 300)
        say(f"setup: {len(cancel_ids)} signed cancels, {refunds_wanted} signed refunds ...")
        cancels = [emu.signer.cancel(p) for p in cancel_ids]
        refunds = [
            emu.signer.refund(refund_ids[j % len(refund_ids)], f"BENCH-R-{j:07d}")
            for j in range(refunds_wanted)
        ]
        await self.warm(self.floor, cancels)
        comparisons.append(await self.compare("cancel", emu, cancels, emulator_cycles=False))
        before = self.receiver_stats()["unique"].get("REFUND_RESULT", 0)
        refund = await self.compare("refund", emu, refunds, emulator_cycles=False, notified="REFUND_RESULT")
        comparisons.append(refund)
        out["refundNotifications"] = {
            "refunds": refund.emulator.requests,
            "deliveredDuringRefundMeasurement": self.receiver_stats()["unique"].get("REFUND_RESULT", 0)
            - before,
        }
        out["payments"] = paid
        out["rssMbAfter"] = emu.server.rss_mb()
        out["comparisons"] = [c.summary() for c in comparisons]
        self.check_notifications(emu, self.receiver_stats())
        return out

    async def memory(self, emu: Emulator) -> dict[str, Any]:
        """RSS of the emulator while ``rss_pays`` more pays (with notify URLs) go through it."""
        total, chunk = self.opts.rss_pays, 10_000
        points = [{"pays": 0, "rssMb": emu.server.rss_mb()}]
        sent = 0
        started = time.perf_counter()
        say(f"memory: {total} pays in chunks of {chunk}, RSS after each ...")
        while sent < total:
            n = min(chunk, total - sent)
            pays = await self.new_pays(emu, n, f"BENCH-M{sent // chunk:03d}-")
            await self.setup_calls(emu, pays, "pays for the memory figure", SUCCESS, keep=False)
            sent += n
            points.append({"pays": sent, "rssMb": emu.server.rss_mb()})
            say(f"  {sent} pays: RSS {points[-1]['rssMb']} MB")
        return {"pays": total, "seconds": round(time.perf_counter() - started, 1), "points": points}


# -- what happens around the measurements ---------------------------------------------------


def time_to_healthy(opts: Options, workdir: Path, databases: Callable[[str], str | None]) -> dict[str, Any]:
    """Seconds from exec to the first 200 on /_emulator/health, each time on an empty database."""
    times = []
    for i in range(opts.healthy_runs):
        port = free_port()
        data = workdir / f"healthy-{i}"
        server = Server(
            name="emulator",
            argv=opts.emulator_command,
            env=server_env(data, port, databases(f"h{i}")),
            port=port,
            log_path=workdir / f"healthy-{i}.log",
        )
        try:
            times.append(server.start(lambda port=port: healthy(port)))
        finally:
            server.stop()
    return {"runs": [round(t, 3) for t in times], "medianSeconds": round(statistics.median(times), 3)}


def timed_reset(emu: Emulator) -> float:
    started = time.perf_counter()
    httpx.post(f"{emu.base}/reset", timeout=300).raise_for_status()
    return (time.perf_counter() - started) * 1000


def stored_payments(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Payment.__table__)).scalar_one())  # type: ignore[attr-defined]


def reset_timing(emu: Emulator, sizes: Sequence[int], say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Time ``POST /_emulator/reset`` with what the run stored, then with ``sizes`` payments."""
    from stock import Templates

    db = Database(emu.database_url)
    try:
        templates = Templates.read(db)
        results = []
        stored = stored_payments(db)
        results.append({"payments": stored, "what": "stored by the run", "ms": round(timed_reset(emu), 1)})
        results.append({"payments": 0, "what": "seeded sandbox", "ms": round(timed_reset(emu), 1)})
        for size in sizes:
            say(f"reset: storing {size} payments straight into the database ...")
            loaded = templates.store(db, size, batch=f"{size}")
            stored = stored_payments(db)
            ms = timed_reset(emu)
            results.append({"payments": stored, "what": "inserted", "ms": round(ms, 1), "insert": loaded})
            say(f"  reset with {stored} payments stored: {ms:.0f} ms")
        return results
    finally:
        db.dispose()


class Databases:
    """Where a suite's emulators keep their data: SQLite files, or throwaway PostgreSQL databases."""

    def __init__(self, kind: str, workdir: Path, server_url: str | None) -> None:
        self.kind = kind
        self._workdir = workdir
        self._server = make_url(server_url) if server_url else None
        self._created: list[str] = []

    def __call__(self, name: str) -> str | None:
        """The URL for an emulator called ``name`` (None: SQLite in its data directory)."""
        if self._server is None:
            return None
        database = f"alipay_bench_{os.getpid()}_{name}"
        engine = disposable_engine(self._server.render_as_string(hide_password=False))
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}"')
                conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        finally:
            engine.dispose()
        self._created.append(database)
        return self._server.set(database=database).render_as_string(hide_password=False)

    def url_of(self, name: str, data_dir: Path) -> str:
        if self._server is None:
            return Settings(data_dir=data_dir).resolved_database_url
        return self._server.set(database=f"alipay_bench_{os.getpid()}_{name}").render_as_string(
            hide_password=False
        )

    def close(self) -> None:
        if self._server is None or not self._created:
            return
        engine = disposable_engine(self._server.render_as_string(hide_password=False))
        try:
            with engine.connect() as conn:
                for database in self._created:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            engine.dispose()


def start_emulator(
    name: str,
    opts: Options,
    workdir: Path,
    databases: Databases,
    receiver_port: int,
    *,
    workers: int = 1,
    settings: dict[str, str] | None = None,
) -> tuple[Emulator, float]:
    port = free_port()
    data_dir = workdir / f"{name}-data"
    argv = list(opts.emulator_command) + (["--workers", str(workers)] if workers > 1 else [])
    server = Server(
        name=name,
        argv=argv,
        env=server_env(data_dir, port, databases(name), settings),
        port=port,
        log_path=workdir / f"{name}.log",
        processes=workers,
    )
    seconds = server.start(lambda: healthy(port))
    base = f"http://127.0.0.1:{port}/_emulator"
    sandbox = httpx.get(f"{base}/sandbox", timeout=30).json()
    merchant = next(a for a in sandbox["applications"] if a["role"] == "MERCHANT")
    # Codes live 60 s of the emulator's clock: freeze it so none expires mid-run.
    httpx.post(f"{base}/clock", json={"frozen": True}, timeout=30).raise_for_status()
    emu = Emulator(
        server=server,
        signer=Signer(
            client_id=merchant["clientId"],
            key=load_private_key(merchant["merchantPrivateKeyPem"]),
            currency=merchant["testCurrency"],
            notify_base=f"http://127.0.0.1:{receiver_port}",
        ),
        buyer=next(b for b in sandbox["buyers"] if b["behaviour"] == "normal")["loginId"],
        alipay_key=load_public_key(sandbox["alipayPublicKey"]),
        database_url=databases.url_of(name, data_dir),
    )
    (workdir / "keys.json").write_text(
        json.dumps(
            {"merchantPublicKeys": {a["clientId"]: a["merchantPublicKey"] for a in sandbox["applications"]}}
        )
    )
    return emu, seconds


def run_suite(kind: str, server_url: str | None, opts: Options, runner: asyncio.Runner) -> dict[str, Any]:
    """Every measurement on one database; raises BenchError / ServerStartError."""
    say(f"\n=== {kind} ===")
    suite: dict[str, Any] = {"database": kind, "loadAverageAtStart": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="alipay-bench-") as tmp:
        workdir = Path(tmp)
        databases = Databases(kind, workdir, server_url)
        started: list[Server] = []
        try:
            if opts.healthy_runs > 0:
                say(f"time to healthy: {opts.healthy_runs} fresh start(s) ...")
                suite["timeToHealthy"] = time_to_healthy(opts, workdir, databases)
            receiver_port, floor_port = free_port(), free_port()
            receiver = Server(
                name="receiver",
                argv=[sys.executable, str(HERE / "receiver.py"), "--port", str(receiver_port)],
                env=server_env(workdir / "receiver", receiver_port),
                port=receiver_port,
                log_path=workdir / "receiver.log",
            )
            started.append(receiver)
            receiver.start(lambda: port_open(receiver_port))
            emu, _ = start_emulator("emulator", opts, workdir, databases, receiver_port)
            started.append(emu.server)
            floor = Server(
                name="floor",
                argv=[
                    sys.executable,
                    str(HERE / "floor.py"),
                    "--port",
                    str(floor_port),
                    "--keys",
                    str(workdir / "keys.json"),
                ],
                env=server_env(workdir / "floor-data", floor_port),
                port=floor_port,
                log_path=workdir / "floor.log",
            )
            started.append(floor)
            floor.start(lambda: port_open(floor_port))
            bench = Bench(opts=opts, floor=floor, receiver=receiver)
            try:
                suite["main"] = runner.run(bench.measure(emu, everything=True))
                if opts.workers:
                    emu2, _ = start_emulator(
                        "emulator-2proc", opts, workdir, databases, receiver_port, workers=opts.workers
                    )
                    started.append(emu2.server)
                    suite["twoProcesses"] = runner.run(bench.measure(emu2, everything=False))
                    emu2.server.stop()
                else:
                    suite["twoProcesses"] = None
                if opts.journal_part:
                    # What a user gets without setting anything: the request journal is on by
                    # default (every call recorded for the console), off in the parts above.
                    emu3, _ = start_emulator(
                        "with-journal",
                        opts,
                        workdir,
                        databases,
                        receiver_port,
                        settings={JOURNAL_SETTING: "true"},
                    )
                    started.append(emu3.server)
                    suite["journalOn"] = runner.run(bench.measure(emu3, everything=False))
                    emu3.server.stop()
                else:
                    suite["journalOn"] = None
                suite["memory"] = runner.run(bench.memory(emu)) if opts.rss_pays else None
            except (BenchError, OSError) as exc:
                suite["errors"] = [str(exc), *bench.problems[1:]]
                say(f"\nbench: stopped on an error: {exc}")
                for server in started:
                    say(f"--- {server.name} log:\n{server.log_tail()}")
                return suite
            suite["errors"] = bench.problems
            suite["receiverCpuSeconds"] = receiver.cpu_seconds()
            suite["reset"] = reset_timing(emu, opts.reset_sizes, say)
            suite["rssMbAfterReset"] = emu.server.rss_mb()
        finally:
            for server in reversed(started):
                code = server.stop()
                if code not in (None, 0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM
                    print(f"{server.name} exited with {code}:\n{server.log_tail()}", file=sys.stderr)
            databases.close()
    suite["loadAverageAtEnd"] = [round(x, 2) for x in os.getloadavg()]
    return suite


# -- the report -----------------------------------------------------------------------------


def target_values(suite: dict[str, Any]) -> dict[str, float | None]:
    main = suite.get("main") or {}
    by_api = {c["api"]: c for c in main.get("comparisons", [])}
    resets = [r for r in suite.get("reset", []) if r["what"] == "inserted" and r["payments"] >= 100_000]

    def pick(api: str, key: str) -> float | None:
        c = by_api.get(api)
        if c is None:
            return None
        value: float | None = c["medianRatio"] if key == "ratio" else c["emulator"]["p99Ms"]
        return value

    healthy_figure = suite.get("timeToHealthy", {}).get("medianSeconds")
    return {
        "inquiryRatio": pick("inquiryPayment", "ratio"),
        "payRatio": pick("pay", "ratio"),
        "inquiryP99": pick("inquiryPayment", "p99"),
        "payP99": pick("pay", "p99"),
        "healthy": healthy_figure,
        "reset100k": resets[0]["ms"] if resets else None,
    }


def verdicts(suite: dict[str, Any]) -> list[dict[str, Any]]:
    values = target_values(suite)
    out = []
    for key, name, op, bound, unit in TARGETS:
        value = values[key]
        ok = None if value is None else (value >= bound if op == ">=" else value < bound)
        out.append({"target": name, "value": value, "unit": unit, "pass": ok})
    return out


def print_report(report: dict[str, Any]) -> None:
    s, machine = report["settings"], report["machine"]
    print(
        f"\ngateway benchmark{' (QUICK: a smoke run, not a verdict)' if s['quick'] else ''}: "
        f"{s['concurrency']} connections, {s['secondsPerMeasurement']:g} s per server and API in "
        f"{s['rounds']} rounds alternating floor and emulator, pays with a paymentNotifyUrl to a live "
        f"receiver, loopback, {machine['cpus']} CPUs, load average {machine['loadAverageAtStart']} at "
        f"start, {machine['loadAverageAtEnd']} at end"
    )
    for suite in report["suites"]:
        print(f"\n## {suite['database']}")
        main = suite.get("main")
        if main:
            print(
                f"{'API':<16}{'server':<16}{'req/s':>8}{'median x':>10}{'p50 ms':>9}{'p99 ms':>9}"
                f"{'CPU ms/req':>12}{'requests':>10}  rounds (emulator/floor)"
            )
            parts = [main] + [suite[k] for k in ("twoProcesses", "journalOn") if suite.get(k)]
            for part in parts:
                for c in part["comparisons"]:
                    for side in ("floor", "emulator"):
                        m = c[side]
                        cpu = m["serverCpuMsPerRequest"]
                        ratio = f"{c['medianRatio']:.3f}" if side == "emulator" else ""
                        rounds = " ".join(f"{r:.2f}" for r in c["roundRatios"]) if side == "emulator" else ""
                        print(
                            f"{c['api']:<16}{m['server']:<16}{m['requestsPerSecond']:>8.0f}{ratio:>10}"
                            f"{m['p50Ms']:>9.1f}{m['p99Ms']:>9.1f}{'' if cpu is None else f'{cpu:.2f}':>12}"
                            f"{m['requests']:>10}  {rounds}"
                            + ("  (ran out of pre-signed requests)" if m["ranOutOfRequests"] else "")
                        )
            cpu = ", ".join(f"{c['api']} {c['cpuPerRequestEmulatorOverFloor']}x" for c in main["comparisons"])
            print(f"server CPU per request, emulator/floor: {cpu}")
            split = ", ".join(
                f"{c['api']} {m:.2f} of {c['emulator']['serverCpuMsPerRequest']:.2f}"
                for c in main["comparisons"]
                if (m := c["emulator"]["mainProcessCpuMsPerRequest"]) is not None
                and c["emulator"]["serverCpuMsPerRequest"] is not None
            )
            if split:
                print(
                    f"emulator CPU ms/req in its serving process (the rest: its notification worker): {split}"
                )
            settled = ", ".join(
                f"{c['api']} ({c['emulator']['server']}) {sum(c['emulator']['notificationSettleSeconds']):.2f} s"
                for part in parts
                for c in part["comparisons"]
                if any(c["emulator"].get("notificationSettleSeconds") or [])
            )
            if settled:
                print(
                    "waited after the emulator's rounds for their notifications (counted in their "
                    f"time and CPU): {settled}"
                )
            n = main.get("payNotifications")
            if n:
                tail = (
                    f"all {n['expected']} received {n['drainSeconds']} s after it"
                    if n["drainSeconds"] is not None
                    else f"{n['backlogAfterWait']} of {n['expected']} still undelivered after the wait"
                )
                print(
                    f"notifyPayment: {n['deliveredDuringPayMeasurement']} of {n['paysInPayMeasurement']} "
                    f"measured pays notified during the measurement; {tail}"
                )
        if suite.get("twoProcesses") is None and "main" in suite:
            why = "--workers below 2" if s["workersAsked"] < 2 else "this emulator has no `serve --workers`"
            print(f"2 processes: not measured ({why})")
        elif suite.get("twoProcesses") and main:
            one = {c["api"]: c["emulator"]["requestsPerSecond"] for c in main["comparisons"]}
            two = {c["api"]: c["emulator"]["requestsPerSecond"] for c in suite["twoProcesses"]["comparisons"]}
            print(
                "2 processes vs 1: "
                + ", ".join(f"{api} {two[api] / one[api]:.2f}x" for api in two if one.get(api))
            )
        if suite.get("journalOn") and main:
            off = {c["api"]: c["medianRatio"] for c in main["comparisons"]}
            on = {c["api"]: c["medianRatio"] for c in suite["journalOn"]["comparisons"]}
            print(
                "with the request journal on (the default; the targets are measured without it): "
                + ", ".join(f"{api} {on[api]:.3f}x floor (off: {off[api]:.3f}x)" for api in on if api in off)
            )
        if "timeToHealthy" in suite:
            t = suite["timeToHealthy"]
            print(f"time to healthy (fresh database): median {t['medianSeconds']} s of {t['runs']}")
        for r in suite.get("reset", []):
            print(f"reset with {r['payments']} payments stored ({r['what']}): {r['ms']:.0f} ms")
        mem = suite.get("memory")
        if mem:
            points = ", ".join(f"{p['pays']}: {p['rssMb']}" for p in mem["points"])
            print(f"emulator RSS MB after N more pays ({mem['seconds']} s): {points}")
        if suite.get("errors"):
            print("ERRORS:")
            for problem in suite["errors"]:
                print(f"  {problem}")

    names = [suite["database"] for suite in report["suites"]]
    print("\n" + f"{'target (issue #15)':<38}" + "".join(f"{n:>22}" for n in names))
    rows = [verdicts(suite) for suite in report["suites"]]
    for i, (_, name, _, _, unit) in enumerate(TARGETS):
        cells = []
        for row in rows:
            v = row[i]
            if v["value"] is None:
                cells.append("not measured")
            else:
                cells.append(f"{v['value']:g}{unit}  {'PASS' if v['pass'] else 'FAIL'}")
        print(f"{name:<38}" + "".join(f"{c:>22}" for c in cells))
    # The latency targets beside what the floor itself gives: with 16 connections each waiting
    # for its answer, a request's latency is at least 16 / throughput (Little's law), so a p99
    # below the floor's own needs more than the floor's throughput.
    for suite in report["suites"]:
        by_api = {c["api"]: c for c in (suite.get("main") or {}).get("comparisons", [])}
        floors = [
            f"{api} {by_api[api]['floor']['p99Ms']} ms" for api in ("inquiryPayment", "pay") if api in by_api
        ]
        if floors:
            print(f"floor p99 in the same run ({suite['database']}): {', '.join(floors)}")


def supports_workers(command: list[str]) -> bool:
    """Whether ``<command> --help`` offers ``--workers`` (the scale-out issue adds it)."""
    try:
        out = subprocess.run(
            [*command, "--help"], capture_output=True, text=True, timeout=60, cwd=HERE.parent
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--workers" in out.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (figures not a verdict)")
    parser.add_argument("--seconds", type=float, help="per server and API, all rounds (10; quick 1.5)")
    parser.add_argument("--rounds", type=int, help="floor/emulator alternations per API, >= 3 (5; quick 3)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections (16)")
    parser.add_argument("--warmup", type=float, help="seconds per warm-up (2; quick 0.5)")
    parser.add_argument("--inquiry-pool", type=int, help="payments inquired (256; quick 64)")
    parser.add_argument("--max-pay", type=int, default=30000, help="cap on pre-signed emulator pays (30000)")
    parser.add_argument("--drain-timeout", type=float, help="wait for notifications, s (30; quick 5)")
    parser.add_argument("--healthy-runs", type=int, help="fresh starts timed (3; quick 1)")
    parser.add_argument(
        "--reset-sizes", help="payments stored before timed resets (10000,100000; quick 1000,5000)"
    )
    parser.add_argument(
        "--rss-pays", type=int, help="pays before the RSS figure, 0 skips (100000; quick 1000)"
    )
    parser.add_argument(
        "--databases",
        help="comma-separated: sqlite, postgresql (default: sqlite, plus postgresql when a URL is known)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ALIPAY_EMULATOR_TEST_POSTGRES_URL"),
        help="a PostgreSQL server where throwaway databases may be created and dropped "
        "(default: $ALIPAY_EMULATOR_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes of the scale-out measurement (2)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--emulator-command",
        default=f"{shlex.quote(sys.executable)} -m emulator serve",
        help="how to start the emulator (configured by ALIPAY_EMULATOR_* variables); "
        "default: this Python's `-m emulator serve`",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the emulator during its measurements into DIR (figures then skewed)",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: only samples of threads holding the GIL (the Python work; a thread "
        "waiting for the GIL, or in C code that released it, is left out)",
    )
    parser.add_argument(
        "--no-journal-part",
        action="store_true",
        help="skip inquiryPayment and pay with the request journal on (the emulator's default; "
        "measured beside the journal-off figures unless ALIPAY_EMULATOR_JOURNAL_ENABLED is set)",
    )
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if quick else full)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.profile is not None:
        if not Path(py_spy).exists():
            parser.error("--profile needs py-spy (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
    command = shlex.split(args.emulator_command)
    seconds = pick(args.seconds, 10.0, 1.5)
    rounds = pick(args.rounds, 5, 3)
    if not 0 < seconds <= 300 or not 0 < args.concurrency <= 256 or rounds < 3:
        parser.error("--seconds must be in (0, 300], --concurrency in (0, 256], --rounds >= 3")
    kinds = (
        [k.strip() for k in args.databases.split(",") if k.strip()]
        if args.databases
        else ["sqlite"] + (["postgresql"] if args.postgres_url else [])
    )
    if any(k not in ("sqlite", "postgresql") for k in kinds):
        parser.error("--databases takes sqlite and/or postgresql")
    if "postgresql" in kinds and not args.postgres_url:
        parser.error("postgresql needs --postgres-url or ALIPAY_EMULATOR_TEST_POSTGRES_URL")
    opts = Options(
        seconds=seconds,
        rounds=rounds,
        warmup=pick(args.warmup, 2.0, 0.5),
        concurrency=args.concurrency,
        inquiry_pool=pick(args.inquiry_pool, 256, 64),
        max_pay=args.max_pay,
        drain_timeout=pick(args.drain_timeout, 30.0, 5.0),
        healthy_runs=pick(args.healthy_runs, 3, 1),
        reset_sizes=tuple(
            int(x) for x in pick(args.reset_sizes, "10000,100000", "1000,5000").split(",") if x
        ),
        rss_pays=pick(args.rss_pays, 100_000, 1000),
        quick=quick,
        emulator_command=command,
        workers=args.workers if args.workers > 1 and supports_workers(command) else 0,
        profile_dir=args.profile,
        py_spy=py_spy,
        profile_gil=args.profile_gil,
        journal_part=not args.no_journal_part and JOURNAL_SETTING not in os.environ,
    )
    load_start = [round(x, 2) for x in os.getloadavg()]
    suites = []
    status = 0
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        for kind in kinds:
            try:
                suite = run_suite(kind, args.postgres_url if kind == "postgresql" else None, opts, runner)
            except (ServerStartError, httpx.HTTPError, StopIteration, KeyError) as exc:
                print(f"bench: could not start the servers ({kind}): {exc}", file=sys.stderr)
                return 2
            suites.append(suite)
            if suite.get("errors"):
                status = 1
    report = {
        "benchmark": "bench/gateway.py",
        "time": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "loadAverageAtStart": load_start,
            "loadAverageAtEnd": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "quick": quick,
            "concurrency": opts.concurrency,
            "secondsPerMeasurement": opts.seconds,
            "rounds": opts.rounds,
            "warmupSeconds": opts.warmup,
            "inquiryPool": opts.inquiry_pool,
            "resetSizes": list(opts.reset_sizes),
            "rssPays": opts.rss_pays,
            "server": "uvicorn via emulator.server._config, asyncio loop",
            "emulatorCommand": opts.emulator_command,
            "workers": opts.workers or None,
            "workersAsked": args.workers,
        },
        "suites": suites,
        "targets": {suite["database"]: verdicts(suite) for suite in suites},
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return status


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the generator when installed (uvicorn[standard] brings it): a cheaper client."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    raise SystemExit(main())
