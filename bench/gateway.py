"""Gateway benchmark: signed pay and inquiryPayment on the emulator and on a floor app, same run.

    .venv/bin/python bench/gateway.py [--seconds 10] [--concurrency 16] [--json results.json]

Starts ``python -m emulator serve`` and ``bench/floor.py`` (signature check + fixed signed
answer, same uvicorn settings) as subprocesses on free loopback ports, pre-signs every request
before any clock starts, then drives each server over keep-alive HTTP/1.1 connections from a
small asyncio load generator (pre-built request bytes, Content-Length framing, one request in
flight per connection), alternating floor and emulator in slices so drifting background load
hits both. Prints requests/s, p50 and p99 for both and the emulator/floor ratios against the
targets (see bench/README.md). Exit status: 0 when every request got the expected signed answer (targets
missed or not), 1 on any error, 2 when a server does not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

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

HERE = Path(__file__).resolve().parent
PAY_PATH = "/ams/sandbox/api/v1/payments/pay"
INQUIRY_PATH = "/ams/sandbox/api/v1/payments/inquiryPayment"

# The issue's targets: emulator throughput as a share of the floor's, and one latency bound.
INQUIRY_RATIO_TARGET = 0.5
PAY_RATIO_TARGET = 0.3
INQUIRY_P99_TARGET_MS = 50.0

SUCCESS = b'"resultCode":"SUCCESS"'
PAID = b'"paymentStatus":"SUCCESS"'
# Responses whose signature is checked in full (the rest are checked for the markers above).
VERIFIED_SAMPLES = 5


# -- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    """One environment for both servers: loopback, no TLS/SFTP, no journal, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
    env.update(
        ALIPAY_EMULATOR_HOST="127.0.0.1",
        ALIPAY_EMULATOR_PORT=str(port),
        ALIPAY_EMULATOR_TLS_PORT="0",
        ALIPAY_EMULATOR_SFTP_PORT="0",
        ALIPAY_EMULATOR_DATA_DIR=str(data_dir),
        ALIPAY_EMULATOR_JOURNAL_ENABLED="false",
        ALIPAY_EMULATOR_LOG_LEVEL="warning",
        # Issue #12 made paymentNotifyUrl required; the bench pays without one (no outbox row
        # per pay), so its figures stay comparable with earlier runs.
        ALIPAY_EMULATOR_NOTIFY_URL_OPTIONAL="true",
    )
    for name in ("ALIPAY_EMULATOR_FIXTURES", "ALIPAY_EMULATOR_DATABASE_URL"):
        if name in os.environ:  # a user pointing the bench at other fixtures or PostgreSQL
            env[name] = os.environ[name]
    return env


class ServerStartError(RuntimeError):
    pass


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=HERE.parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"{self.name} exited with {self.proc.returncode}")
            with contextlib.suppress(OSError, httpx.HTTPError):
                if ready():
                    return
            time.sleep(0.1)
        raise ServerStartError(f"{self.name} not ready after {timeout:.0f} s")

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the whole process (all threads), from /proc; None elsewhere."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    client_id: str
    key: rsa.RSAPrivateKey
    currency: str

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
            PAY_PATH,
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
            },
        )

    def inquiry(self, payment_id: str) -> bytes:
        return self.request(INQUIRY_PATH, {"paymentId": payment_id})


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
    """What one server answered for one API, summed over the slices of a measurement."""

    markers: tuple[bytes, ...]
    keep_bodies: bool = False
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[Response] = field(default_factory=list)
    bad: list[Response] = field(default_factory=list)
    bodies: dict[int, bytes] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu_seconds: float | None = 0.0
    exhausted: bool = False
    last: float = 0.0

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


class Feed:
    """Hands out pre-built requests: each once, or round-robin, until the deadline."""

    def __init__(self, requests: Sequence[bytes], *, cycle: bool) -> None:
        self._requests = requests
        self._cycle = cycle
        self._next = 0
        self.deadline = math.inf
        self.exhausted = False

    def take(self) -> tuple[int, bytes] | None:
        if time.perf_counter() >= self.deadline:
            return None
        i = self._next
        if i >= len(self._requests):
            if not self._cycle:
                self.exhausted = True
                return None
            i = 0
        self._next = i + 1
        return i, self._requests[i]


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
        cpu_before = server.cpu_seconds()
        started = run.last = time.perf_counter()
        feed.deadline = started + seconds
        for proto, _ in conns:
            proto.send_next()
        _, pending = await asyncio.wait([d for _, d in conns], timeout=seconds + 60)
        cpu_after = server.cpu_seconds()
    finally:
        gc.enable()
    if pending:
        run.errors["no answer within 60 s after the deadline"] += len(pending)
        for proto, _ in conns:
            proto.finish()
    run.elapsed += run.last - started
    if run.cpu_seconds is not None and cpu_before is not None and cpu_after is not None:
        run.cpu_seconds += cpu_after - cpu_before
    else:
        run.cpu_seconds = None
    run.exhausted = run.exhausted or feed.exhausted


# -- results --------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Measurement:
    api: str
    server: str
    run: Run

    @property
    def requests(self) -> int:
        return len(self.run.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.run.elapsed if self.run.elapsed > 0 else 0.0

    @property
    def cpu_ms(self) -> float | None:
        cpu = self.run.cpu_seconds
        return cpu * 1000 / self.requests if cpu is not None and self.requests else None

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.run.latencies)
        cpu = self.cpu_ms
        return {
            "api": self.api,
            "server": self.server,
            "requests": self.requests,
            "seconds": round(self.run.elapsed, 3),
            "requestsPerSecond": round(self.rps, 1),
            "p50Ms": round(percentile(lat, 50) * 1000, 2),
            "p99Ms": round(percentile(lat, 99) * 1000, 2),
            "maxMs": round(lat[-1] * 1000, 2) if lat else None,
            "serverCpuMsPerRequest": None if cpu is None else round(cpu, 3),
            "ranOutOfRequests": self.run.exhausted,
            "errors": dict(self.run.errors),
        }


def verify_samples(run: Run, path: str, alipay_key: rsa.RSAPublicKey, client_id: str) -> list[str]:
    """Check the response signature of a few answers exactly as an SDK would (spec §2.5)."""
    failures: list[str] = []
    for response in run.samples:
        headers = parse_headers(response.head)
        try:
            if headers.get("client-id") != client_id:
                raise SignatureMismatch(f"client-id {headers.get('client-id')!r} not echoed")
            parsed = parse_signature_header(headers.get("signature", ""))
            message = canonical_message(
                method="POST",
                path=path,
                client_id=client_id,
                time=headers.get("response-time", ""),
                body=response.body,
            )
            verify(message, parsed.signature, alipay_key)
        except SignatureMismatch as exc:
            failures.append(str(exc))
    if not failures:
        return []
    return [f"{len(failures)} of {len(run.samples)} sampled responses fail: {failures[0]}"]


def parse_headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, sep, value in (line.partition(":") for line in lines)
        if sep
    }


# -- the benchmark --------------------------------------------------------------------------


@dataclass
class Bench:
    emulator: Server
    floor: Server
    signer: Signer
    buyer: str
    alipay_key: rsa.RSAPublicKey
    seconds: float
    slices: int
    warmup: float
    concurrency: int
    inquiry_pool: int
    max_pay: int
    profile_dir: Path | None = None
    py_spy: str = "py-spy"
    measurements: list[Measurement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    setup_rate: float = 0.0

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    async def setup_calls(self, requests: Sequence[bytes], what: str, marker: bytes) -> list[bytes]:
        """Send each request once to the emulator; the answers, in request order."""
        run = Run(markers=(marker,), keep_bodies=True)
        await drive(self.emulator, Feed(requests, cycle=False), run, concurrency=self.concurrency)
        self.check(run, what)
        if len(run.bodies) != len(requests):
            raise BenchError(f"{what}: {len(run.bodies)} answers to {len(requests)} requests")
        self.setup_rate = len(requests) / run.elapsed if run.elapsed > 0 else 0.0
        return [run.bodies[i] for i in range(len(requests))]

    async def issue_codes(self, count: int) -> list[str]:
        request = control_request(f"/_emulator/buyers/{self.buyer}/payment-codes")
        bodies = await self.setup_calls([request] * count, "issuing payment codes", b"paymentCode")
        return [json.loads(body)["paymentCode"] for body in bodies]

    def check(self, run: Run, what: str) -> None:
        for problem, n in run.errors.items():
            self.problems.append(f"{what}: {n} x {problem}")
        for response in run.bad:
            snippet = (response.head + response.body)[:400].decode("utf-8", errors="replace")
            self.problems.append(f"{what}: e.g. {snippet!r}")
        if self.problems:
            raise BenchError(self.problems[0])

    async def compare(self, api: str, path: str, requests: Sequence[bytes], *, emulator_cycles: bool) -> None:
        """Emulator and floor in alternating slices, so drifting background load hits both."""
        feeds = {
            self.floor.name: Feed(requests, cycle=True),
            self.emulator.name: Feed(requests, cycle=emulator_cycles),
        }
        runs = {
            self.floor.name: Run(markers=(SUCCESS,)),
            self.emulator.name: Run(markers=(SUCCESS, PAID) if api == "inquiryPayment" else (SUCCESS,)),
        }
        profiler = self.start_profiler(api)
        try:
            for i in range(self.slices):
                order = (self.floor, self.emulator) if i % 2 == 0 else (self.emulator, self.floor)
                for server in order:
                    await drive(
                        server,
                        feeds[server.name],
                        runs[server.name],
                        concurrency=self.concurrency,
                        seconds=self.seconds / self.slices,
                    )
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                await asyncio.to_thread(profiler.wait)
        for server in (self.floor, self.emulator):
            run = runs[server.name]
            what = f"{api} on the {server.name}"
            self.problems.extend(
                f"{what}: {p}" for p in verify_samples(run, path, self.alipay_key, self.signer.client_id)
            )
            if not run.samples:
                self.problems.append(f"{what}: no answers")
            self.check(run, what)
            m = Measurement(api=api, server=server.name, run=run)
            self.measurements.append(m)
            self.say(
                f"  {what}: {m.rps:.0f} req/s, p50 {m.summary()['p50Ms']:.1f} ms, "
                f"p99 {m.summary()['p99Ms']:.1f} ms ({m.requests} requests)"
            )

    def start_profiler(self, api: str) -> subprocess.Popen[bytes] | None:
        """``--profile DIR``: py-spy the emulator through a measurement (skews its figures)."""
        if self.profile_dir is None or self.emulator.proc is None:
            return None
        out = self.profile_dir / f"{api}-emulator.speedscope.json"
        self.say(f"  profiling the emulator into {out}")
        return subprocess.Popen(
            [
                self.py_spy,
                "record",
                "--pid",
                str(self.emulator.proc.pid),
                "--rate",
                "250",
                "--nonblocking",
                "--format",
                "speedscope",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def warm(self, server: Server, requests: Sequence[bytes]) -> None:
        run = Run(markers=(SUCCESS,))
        feed = Feed(requests, cycle=True)
        await drive(server, feed, run, concurrency=self.concurrency, seconds=self.warmup)
        self.check(run, f"warm-up on the {server.name}")

    async def run(self) -> None:
        signer = self.signer
        # 1. Payments to inquire about; creating them is also the emulator's pay warm-up.
        self.say(f"setup: {self.inquiry_pool} payments to inquire about ...")
        codes = await self.issue_codes(self.inquiry_pool)
        warm_pays = [signer.pay(code, f"BENCH-W-{i:06d}") for i, code in enumerate(codes)]
        bodies = await self.setup_calls(warm_pays, "creating payments", SUCCESS)
        pay_rate = self.setup_rate
        inquiries = [signer.inquiry(json.loads(body)["paymentId"]) for body in bodies]

        # 2. A fresh payment code and a signed pay per emulator pay request: a used code or a
        # repeated paymentRequestId would measure the idempotent replay instead.
        budget = min(self.max_pay, int(pay_rate * self.seconds * 2.5) + 300)
        self.say(f"setup: {budget} payment codes and signed pay requests ...")
        codes = await self.issue_codes(budget)
        pays = [signer.pay(code, f"BENCH-P-{i:06d}") for i, code in enumerate(codes)]

        self.say(f"warm-up: {self.warmup:g} s per server and API ...")
        for server in (self.floor, self.emulator):
            await self.warm(server, inquiries)
        await self.warm(self.floor, pays)

        self.say(
            f"measuring: {self.seconds:g} s per server and API in {self.slices} alternating "
            f"slices, {self.concurrency} connections"
        )
        await self.compare("inquiryPayment", INQUIRY_PATH, inquiries, emulator_cycles=True)
        # The floor keeps no state, so it may cycle over the signed pays; the emulator gets
        # each one once.
        await self.compare("pay", PAY_PATH, pays, emulator_cycles=False)

    def result(self, api: str, server: str) -> Measurement:
        return next(m for m in self.measurements if m.api == api and m.server == server)

    def report(self) -> dict[str, Any]:
        ratios: dict[str, float] = {}
        cpu_ratios: dict[str, float | None] = {}
        for api in ("inquiryPayment", "pay"):
            e, f = self.result(api, "emulator"), self.result(api, "floor")
            ratios[api] = e.rps / f.rps if f.rps else 0.0
            cpu_ratios[api] = round(e.cpu_ms / f.cpu_ms, 2) if e.cpu_ms is not None and f.cpu_ms else None
        inquiry_p99 = self.result("inquiryPayment", "emulator").summary()["p99Ms"]
        targets = [
            {
                "name": "inquiryPayment throughput, emulator/floor",
                "value": round(ratios["inquiryPayment"], 3),
                "target": f">= {INQUIRY_RATIO_TARGET}",
                "pass": ratios["inquiryPayment"] >= INQUIRY_RATIO_TARGET,
            },
            {
                "name": "pay throughput, emulator/floor",
                "value": round(ratios["pay"], 3),
                "target": f">= {PAY_RATIO_TARGET}",
                "pass": ratios["pay"] >= PAY_RATIO_TARGET,
            },
            {
                "name": "inquiryPayment p99 on the emulator, ms",
                "value": inquiry_p99,
                "target": f"< {INQUIRY_P99_TARGET_MS:g}",
                "pass": inquiry_p99 < INQUIRY_P99_TARGET_MS,
            },
        ]
        return {
            "benchmark": "bench/gateway.py",
            "time": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "loadAverage": [round(x, 2) for x in os.getloadavg()],
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "settings": {
                "concurrency": self.concurrency,
                "secondsPerMeasurement": self.seconds,
                "slices": self.slices,
                "warmupSeconds": self.warmup,
                "inquiryPool": self.inquiry_pool,
                "server": "uvicorn via emulator.server._config, one process, asyncio loop",
                "emulatorCommand": self.emulator.argv,
                "database": self.emulator.env.get("ALIPAY_EMULATOR_DATABASE_URL", "SQLite"),
            },
            "measurements": [m.summary() for m in self.measurements],
            "targets": targets,
            # Not a target: the emulator's server CPU per request as a multiple of the floor's,
            # which background load on the machine disturbs less than throughput.
            "cpuPerRequestEmulatorOverFloor": cpu_ratios,
            "errors": self.problems,
        }


class BenchError(RuntimeError):
    """A wrong or missing answer: the run cannot produce honest figures."""


def print_table(report: dict[str, Any]) -> None:
    s, machine = report["settings"], report["machine"]
    print(
        f"\ngateway benchmark: {s['concurrency']} connections, {s['secondsPerMeasurement']:g} s "
        f"per server and API in {s['slices']} alternating slices, loopback, "
        f"{machine['cpus']} CPUs, load average {machine['loadAverage'][0]}"
    )
    print(
        f"{'API':<16}{'server':<10}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/req':>12}{'requests':>10}{'errors':>8}"
    )
    for m in report["measurements"]:
        cpu = m["serverCpuMsPerRequest"]
        print(
            f"{m['api']:<16}{m['server']:<10}{m['requestsPerSecond']:>8.0f}{m['p50Ms']:>9.1f}"
            f"{m['p99Ms']:>9.1f}{'' if cpu is None else f'{cpu:.2f}':>12}{m['requests']:>10}"
            f"{sum(m['errors'].values()):>8}"
            + ("  (ran out of pre-signed requests)" if m["ranOutOfRequests"] else "")
        )
    print()
    for t in report["targets"]:
        verdict = "PASS" if t["pass"] else "FAIL"
        print(f"{t['name']:<42}{t['value']:>9}   target {t['target']:<8} {verdict}")
    cpu = report["cpuPerRequestEmulatorOverFloor"]
    if all(v is not None for v in cpu.values()):
        print(
            f"(info) server CPU per request, emulator/floor: inquiryPayment "
            f"{cpu['inquiryPayment']}x, pay {cpu['pay']}x"
        )
    if report["errors"]:
        print("\nERRORS:")
        for problem in report["errors"]:
            print(f"  {problem}")


@contextlib.contextmanager
def servers(workdir: Path, emulator_command: list[str]) -> Iterator[tuple[Server, Server]]:
    emulator_port, floor_port = free_port(), free_port()
    emulator = Server(
        name="emulator",
        argv=emulator_command,
        env=server_env(workdir / "data", emulator_port),
        port=emulator_port,
        log_path=workdir / "emulator.log",
    )
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
    try:
        yield emulator, floor
    finally:
        for server in (floor, emulator):
            code = server.stop()
            if code not in (None, 0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM
                print(f"{server.name} exited with {code}:\n{server.log_tail()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement (10)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections (16)")
    parser.add_argument(
        "--slices",
        type=int,
        default=5,
        help="alternate emulator and floor this many times per measurement (5)",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per warm-up (2)")
    parser.add_argument("--inquiry-pool", type=int, default=256, help="payments inquired (256)")
    parser.add_argument("--max-pay", type=int, default=30000, help="cap on pre-signed emulator pays (30000)")
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
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.profile is not None:
        if not Path(py_spy).exists():
            parser.error("--profile needs py-spy (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
    if not 0 < args.seconds <= 300 or not 0 < args.concurrency <= 256 or args.slices < 1:
        parser.error("--seconds must be in (0, 300], --concurrency in (0, 256], --slices >= 1")

    with (
        tempfile.TemporaryDirectory(prefix="alipay-bench-") as tmp,
        servers(Path(tmp), shlex.split(args.emulator_command)) as (
            emulator,
            floor,
        ),
    ):
        workdir = Path(tmp)
        base = f"http://127.0.0.1:{emulator.port}/_emulator"
        try:
            emulator.start(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200)
            sandbox = httpx.get(f"{base}/sandbox", timeout=10).json()
            merchant = next(a for a in sandbox["applications"] if a["role"] == "MERCHANT")
            (workdir / "keys.json").write_text(
                json.dumps(
                    {
                        "merchantPublicKeys": {
                            a["clientId"]: a["merchantPublicKey"] for a in sandbox["applications"]
                        }
                    }
                )
            )
            floor.start(lambda: port_open(floor.port))
        except (ServerStartError, httpx.HTTPError, StopIteration, KeyError) as exc:
            print(f"bench: could not start the servers: {exc}", file=sys.stderr)
            for server in (emulator, floor):
                print(f"--- {server.name} log:\n{server.log_tail()}", file=sys.stderr)
            return 2
        # Codes live 60 s of the emulator's clock: freeze it so none expires mid-run.
        httpx.post(f"{base}/clock", json={"frozen": True}, timeout=10).raise_for_status()
        bench = Bench(
            emulator=emulator,
            floor=floor,
            signer=Signer(
                client_id=merchant["clientId"],
                key=load_private_key(merchant["merchantPrivateKeyPem"]),
                currency=merchant["testCurrency"],
            ),
            buyer=next(b for b in sandbox["buyers"] if b["behaviour"] == "normal")["loginId"],
            alipay_key=load_public_key(sandbox["alipayPublicKey"]),
            seconds=args.seconds,
            slices=args.slices,
            warmup=args.warmup,
            concurrency=args.concurrency,
            inquiry_pool=args.inquiry_pool,
            max_pay=args.max_pay,
            profile_dir=args.profile,
            py_spy=py_spy,
        )
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(bench.run())
        except (BenchError, OSError) as exc:
            print(f"\nbench: stopped on an error: {exc}", file=sys.stderr)
            for problem in bench.problems[1:]:
                print(f"  {problem}", file=sys.stderr)
            print(f"--- emulator log:\n{emulator.log_tail()}", file=sys.stderr)
            if args.json:
                args.json.write_text(json.dumps({"errors": [str(exc), *bench.problems]}) + "\n")
            return 1
        report = bench.report()
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["errors"] else 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the generator when installed (uvicorn[standard] brings it): a cheaper client."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    raise SystemExit(main())
