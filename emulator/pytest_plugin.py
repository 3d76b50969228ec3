"""pytest plugin (entry point ``pytest11``): an emulator for your test session.

    def test_checkout(alipay_emulator, alipay_sandbox):
        app = alipay_sandbox.app()                     # a MERCHANT application, freshly reset
        code = alipay_sandbox.payment_code()           # from the seeded "normal" buyer
        ...                                            # pay with the official SDK

``alipay_emulator`` (session): starts ``alipay-emulator serve`` in a subprocess on free ports with
a temporary data directory, or attaches to ``ALIPAY_EMULATOR_URL`` (a CI service container).
It trusts the emulator's CA for the session (``SSL_CERT_FILE``) and serves HTTPS on 443, where the
Python SDK always connects; when 443 cannot be bound (not root, or another process holds it), the
session says why and what to do at its start, in its summary, and in every test that needs the
emulator, instead of serving TLS elsewhere (``ALIPAY_EMULATOR_PLUGIN_TLS_PORT=0`` does that on
purpose, for SDKs that take a port).

``alipay_sandbox`` (function): resets before each test (under pytest-xdist only the worker's own
application, so workers do not disturb each other) and clears the notification receiver.

``alipay_acceptance`` (session): an acceptance run for the session's application (the first
merchant, or ``ALIPAY_EMULATOR_ACCEPTANCE_CLIENT_ID``). Tests ``start(case_id)`` the cases that
need arming and exercise them; at the end of the session the run is finished and its JUnit
report written (``--alipay-acceptance-junit FILE``, default ``alipay-acceptance.xml``). While
it is open, ``alipay_sandbox`` grades the run before each reset and resets only the run's
application, so the run and its evidence survive from test to test.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .testing import EmulatorClient, EmulatorServer, NotificationReceiver

URL_ENV = "ALIPAY_EMULATOR_URL"
ACCEPTANCE_CLIENT_ENV = "ALIPAY_EMULATOR_ACCEPTANCE_CLIENT_ID"
ACCEPTANCE_JUNIT = "alipay-acceptance.xml"
TOKEN_ENV = "ALIPAY_EMULATOR_ADMIN_TOKEN"
TLS_PORT_ENV = "ALIPAY_EMULATOR_PLUGIN_TLS_PORT"


@dataclass
class AlipayEmulator:
    """The running emulator: control client, sandbox resources, a notification receiver."""

    control: EmulatorClient
    sandbox: dict[str, Any]
    receiver: NotificationReceiver
    ca_file: Path
    server: EmulatorServer | None = None
    acceptance: AcceptanceRun | None = None

    @property
    def gateway_url(self) -> str:
        """The HTTPS gateway URL to give an SDK (``https://localhost`` when on port 443)."""
        https: str | None = self.sandbox["gateway"]["https"]
        return https or self.sandbox["gateway"]["http"]

    @property
    def http_url(self) -> str:
        return self.control.base_url

    @property
    def alipay_public_key(self) -> str:
        return str(self.sandbox["alipayPublicKey"])

    def applications(self, role: str = "MERCHANT") -> list[dict[str, Any]]:
        return [a for a in self.sandbox["applications"] if a["role"] == role]

    def buyer(self, behaviour: str = "normal") -> dict[str, Any]:
        return next(b for b in self.sandbox["buyers"] if b["behaviour"] == behaviour)

    def payment_code(self, behaviour: str = "normal") -> str:
        return self.control.payment_code(self.buyer(behaviour)["loginId"])


@dataclass
class AlipaySandbox:
    """Per test: the application this test (or xdist worker) owns, freshly reset."""

    emulator: AlipayEmulator
    application: dict[str, Any]

    def app(self) -> dict[str, Any]:
        return self.application

    def payment_code(self, behaviour: str = "normal") -> str:
        return self.emulator.payment_code(behaviour)

    @property
    def control(self) -> EmulatorClient:
        return self.emulator.control

    @property
    def receiver(self) -> NotificationReceiver:
        return self.emulator.receiver


# The official Python SDK 1.7.1 always connects to this port of its gateway host.
SDK_PORT = 443


def explain_bind_error(port: int, err: int) -> str:
    """Why ``port`` cannot serve the SDK, and what to do, as one message."""
    if err == errno.EADDRINUSE:
        why = f"port {port} is held by another process (free it; if that is an emulator, attach to it)"
    elif err in (errno.EACCES, errno.EPERM):
        try:
            start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text().strip()
        except OSError:
            start = "unknown"
        why = f"this user may not bind port {port} (not root; net.ipv4.ip_unprivileged_port_start is {start})"
    else:
        why = f"port {port} cannot be bound ({os.strerror(err)})"
    return (
        f"alipay-emulator: the Python SDK always connects to port {port}, and {why}. Either run the "
        f"tests as root, or `sudo sysctl net.ipv4.ip_unprivileged_port_start={port}`, or attach to a "
        f"running emulator serving HTTPS on {port} with {URL_ENV}=http://host:8080, or, with an SDK "
        f"that takes a port (Java, Go, PHP), set {TLS_PORT_ENV}=0 to serve HTTPS on any free port."
    )


def _sdk_port_problem(port: int) -> str | None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return explain_bind_error(port, exc.errno or 0)
    return None


def _tls_port() -> int | None:
    """The SDK's port (443); ``ALIPAY_EMULATOR_PLUGIN_TLS_PORT`` overrides (0: any free port)."""
    if os.environ.get(TLS_PORT_ENV):
        return int(os.environ[TLS_PORT_ENV]) or None
    problem = _sdk_port_problem(SDK_PORT)
    if problem is not None:
        _problems.append(problem)
        pytest.fail(problem, pytrace=False)
    return SDK_PORT


_problems: list[str] = []


def _will_start_an_emulator(items: list[pytest.Item]) -> bool:
    if os.environ.get(URL_ENV) or os.environ.get(TLS_PORT_ENV):
        return False
    return any("alipay_emulator" in getattr(item, "fixturenames", ()) for item in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Say at the start, not per test, when the SDK's port cannot be served."""
    if not _will_start_an_emulator(session.items):
        return
    problem = _sdk_port_problem(SDK_PORT)
    if problem is None:
        return
    _problems.append(problem)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(problem, red=True, bold=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for problem in dict.fromkeys(_problems):
        terminalreporter.write_sep("=", "alipay-emulator", red=True)
        terminalreporter.write_line(problem)


@pytest.fixture(scope="session")
def alipay_emulator() -> Iterator[AlipayEmulator]:
    token = os.environ.get(TOKEN_ENV)
    server: EmulatorServer | None = None
    with tempfile.TemporaryDirectory(prefix="alipay-emulator-") as tmp:
        url = os.environ.get(URL_ENV)
        if not url:
            server = EmulatorServer(
                Path(tmp) / "data", tls_port=_tls_port(), env={TOKEN_ENV: token} if token else None
            )
            server.start()
            url = server.http_url
        control = EmulatorClient(url, admin_token=token)
        ca_file = Path(tmp) / "alipay-emulator-ca.pem"
        ca_file.write_text(control.ca_pem())
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(ca_file)
        receiver = NotificationReceiver().start()
        try:
            yield AlipayEmulator(
                control=control,
                sandbox=control.sandbox(),
                receiver=receiver,
                ca_file=ca_file,
                server=server,
            )
        finally:
            receiver.stop()
            control.close()
            if previous is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = previous
            if server is not None:
                server.stop()


@dataclass
class AcceptanceRun:
    """The session's acceptance run: start cases, read grades; finished at the session's end."""

    control: EmulatorClient
    client_id: str
    run_id: int

    def view(self) -> dict[str, Any]:
        """The run with its grades as they stand now."""
        return self.control.acceptance_run(self.run_id)

    def case(self, case_id: str) -> dict[str, Any]:
        found: dict[str, Any] = next(c for c in self.view()["cases"] if c["id"] == case_id)
        return found

    def start(self, case_id: str) -> dict[str, Any]:
        """Arm a case; returns it with its instruction and values (buyer, payment code, amount)."""
        return self.control.start_acceptance_case(self.run_id, case_id)

    def wait(self, case_id: str, *, timeout: float = 15.0) -> dict[str, Any]:
        """Poll until the case is graded (notification cases act on the emulator's tick)."""
        deadline = time.monotonic() + timeout
        case = self.case(case_id)
        while case["status"] not in ("passed", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            case = self.case(case_id)
        return case

    def finish(self) -> dict[str, Any]:
        return self.control.finish_acceptance_run(self.run_id)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--alipay-acceptance-junit",
        dest="alipay_acceptance_junit",
        default=None,
        help=f"where the alipay_acceptance fixture writes its JUnit report (default {ACCEPTANCE_JUNIT})",
    )


@pytest.fixture(scope="session")
def alipay_acceptance(
    alipay_emulator: AlipayEmulator, request: pytest.FixtureRequest
) -> Iterator[AcceptanceRun]:
    client_id = os.environ.get(ACCEPTANCE_CLIENT_ENV) or alipay_emulator.applications()[0]["clientId"]
    control = alipay_emulator.control
    opened = control.open_acceptance_run(client_id)
    run = AcceptanceRun(control=control, client_id=client_id, run_id=int(opened["id"]))
    alipay_emulator.acceptance = run
    try:
        yield run
    finally:
        alipay_emulator.acceptance = None
        run.finish()
        target = Path(request.config.getoption("alipay_acceptance_junit") or ACCEPTANCE_JUNIT)
        target.write_text(control.acceptance_junit(run.run_id), encoding="utf-8")


@pytest.fixture
def alipay_sandbox(alipay_emulator: AlipayEmulator) -> AlipaySandbox:
    merchants = alipay_emulator.applications()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    run = alipay_emulator.acceptance
    if run is not None:
        # Grade what the previous test did before its journal goes, keep the run (not reset).
        run.view()
        app = next(a for a in alipay_emulator.sandbox["applications"] if a["clientId"] == run.client_id)
        alipay_emulator.control.reset(client_id=run.client_id)
    elif worker.startswith("gw") and worker[2:].isdigit():
        app = merchants[int(worker[2:]) % len(merchants)]
        alipay_emulator.control.reset(client_id=app["clientId"])
    else:
        app = merchants[0]
        alipay_emulator.control.reset()
    alipay_emulator.receiver.clear()
    return AlipaySandbox(emulator=alipay_emulator, application=app)
