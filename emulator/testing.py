"""A typed Python client for the control API, for users' test suites and ours.

from emulator.testing import EmulatorClient
emu = EmulatorClient("http://localhost:8080")
code = emu.payment_code(emu.sandbox()["buyers"][0]["loginId"])
emu.advance_clock(seconds=61)   # the code has expired now
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def can_bind(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmulatorServer:
    """``alipay-emulator serve`` in a subprocess, as a user runs it: free ports, own data directory.

    ``tls_port=None`` picks a free port (pass 443 for the Python SDK); SFTP is off unless
    ``sftp_port`` is given. ``stop()`` sends SIGTERM and returns the exit code (0 when drained).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        tls_port: int | None = None,
        sftp_port: int = 0,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.tls_port = tls_port if tls_port is not None else free_port()
        self.sftp_port = sftp_port
        self.database_url = database_url
        self.extra_env = env or {}
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def start(self, timeout: float = 90) -> EmulatorServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
        env.update(
            ALIPAY_EMULATOR_PORT=str(self.port),
            ALIPAY_EMULATOR_TLS_PORT=str(self.tls_port),
            ALIPAY_EMULATOR_SFTP_PORT=str(self.sftp_port),
            ALIPAY_EMULATOR_DATA_DIR=str(self.data_dir),
            ALIPAY_EMULATOR_LOG_LEVEL="warning",
        )
        if self.database_url:
            env["ALIPAY_EMULATOR_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "emulator", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.http_url}/_emulator/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"emulator not healthy within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code = self.proc.returncode
        self.proc = None
        return code


class ControlApiError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class EmulatorClient:
    def __init__(self, base_url: str, *, admin_token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"/_emulator{path}", **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text
            raise ControlApiError(response.status_code, str(message))
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # -- sandbox ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def sandbox(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/sandbox")
        return result

    def ca_pem(self) -> str:
        return str(self._call("GET", "/ca.pem"))

    def reset(self, *, client_id: str | None = None) -> dict[str, Any]:
        params = {"clientId": client_id} if client_id else None
        result: dict[str, Any] = self._call("POST", "/reset", params=params)
        return result

    def payment_code(self, login_id: str, *, digits: int | None = None) -> str:
        body = {"digits": digits} if digits is not None else None
        return str(self._call("POST", f"/buyers/{login_id}/payment-codes", json=body)["paymentCode"])

    def put_public_key(
        self, client_id: str, public_key: str, *, key_version: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, str] = {"publicKey": public_key}
        if key_version is not None:
            body["keyVersion"] = key_version
        result: dict[str, Any] = self._call("PUT", f"/applications/{client_id}/public-key", json=body)
        return result

    # -- clock -----------------------------------------------------------------------------

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/clock")
        return result

    def advance_clock(self, *, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", json={"advanceSeconds": seconds})
        return result

    def set_clock(self, now: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", json={"now": now})
        return result

    def freeze_clock(self, frozen: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", json={"frozen": frozen})
        return result

    # -- journal ---------------------------------------------------------------------------

    def requests(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if client_id:
            params["clientId"] = client_id
        if path:
            params["path"] = path
        if result_code:
            params["resultCode"] = result_code
        entries: list[dict[str, Any]] = self._call("GET", "/requests", params=params)["requests"]
        return entries

    # -- error scenarios and faults -------------------------------------------------------

    def add_scenario(
        self,
        api: str,
        result_code: str,
        *,
        result_status: str | None = None,
        count: int | None = None,
        minutes: float | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """The next ``count`` calls (or all for ``minutes``) of ``api`` answer ``result_code``."""
        body = {
            "api": api,
            "resultCode": result_code,
            "resultStatus": result_status,
            "count": count,
            "minutes": minutes,
            "clientId": client_id,
        }
        result: dict[str, Any] = self._call(
            "POST", "/scenarios", json={k: v for k, v in body.items() if v is not None}
        )
        return result

    def scenarios(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/scenarios")["scenarios"]
        return found

    def clear_scenarios(self) -> None:
        self._call("DELETE", "/scenarios")

    def add_fault(
        self,
        api: str,
        kind: str,
        *,
        ms: int | None = None,
        status: int | None = None,
        count: int | None = None,
        minutes: float | None = None,
        probability: float | None = None,
        seed: int | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """kind: latency (ms), http_status (status), no_response, drop_after_commit, or a
        response-signature fault: signature_tampered, unsigned_success, signature_only,
        response_time_only, wrong_key_version, body_tampered_after_signing."""
        body = {
            "api": api,
            "kind": kind,
            "ms": ms,
            "status": status,
            "count": count,
            "minutes": minutes,
            "probability": probability,
            "seed": seed,
            "clientId": client_id,
        }
        result: dict[str, Any] = self._call(
            "POST", "/faults", json={k: v for k, v in body.items() if v is not None}
        )
        return result

    def faults(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return found

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # -- ISV authorisation -----------------------------------------------------------------

    def authorize_isv(self, isv_client_id: str, merchant_client_id: str) -> dict[str, Any]:
        """A merchant authorises an ISV; returns ``{"agentToken", "merchantCustomerId", ...}``."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/isv/{isv_client_id}/authorizations",
            json={"merchantClientId": merchant_client_id},
        )
        return result

    def revoke_agent_token(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/agent-tokens/{token}")
        return result

    # -- wallet and notifications --------------------------------------------------------

    def scan(self, buyer: str, code_value: str) -> dict[str, Any]:
        """A buyer scans an order code (or opens an entry-code link) and pays."""
        result: dict[str, Any] = self._call(
            "POST", "/wallet/scan", json={"buyer": buyer, "codeValue": code_value}
        )
        return result

    def confirm(self, buyer: str, payment_id: str, *, approve: bool = True) -> dict[str, Any]:
        body = {"buyer": buyer, "paymentId": payment_id, "approve": approve}
        result: dict[str, Any] = self._call("POST", "/wallet/confirm", json=body)
        return result

    def notifications(
        self, *, client_id: str | None = None, payment_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The newest notifications first (``limit``: 100 unless given, at most 1000)."""
        wanted = {"clientId": client_id, "paymentId": payment_id, "limit": limit}
        params = {k: v for k, v in wanted.items() if v}
        found: list[dict[str, Any]] = self._call("GET", "/notifications", params=params)["notifications"]
        return found

    def resend_notification(self, notification_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/notifications/{notification_id}/resend")
        return result

    # -- merchant registrations (acquirers, ISVs) ------------------------------------------

    def registrations(
        self, *, client_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"clientId": client_id, "status": status}.items() if v}
        found: list[dict[str, Any]] = self._call("GET", "/registrations", params=params)["registrations"]
        return found

    def registration(self, registration_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/registrations/{registration_id}")
        return result

    def decide_registration(
        self, registration_id: str, outcome: str, *, reason: str | None = None, immediately: bool = True
    ) -> dict[str, Any]:
        """End a pending review with APPROVED or REJECTED (a rejection needs a reason)."""
        body: dict[str, Any] = {"outcome": outcome, "immediately": immediately}
        if reason is not None:
            body["reason"] = reason
        result: dict[str, Any] = self._call("POST", f"/registrations/{registration_id}/decision", json=body)
        return result

    # -- reconciliation files --------------------------------------------------------------

    def run_reconciliation(self, date: str, client_id: str | None = None) -> dict[str, Any]:
        """Write the reports of transaction date ``date`` (YYYY-MM-DD); returns the files."""
        body: dict[str, str] = {"date": date}
        if client_id is not None:
            body["clientId"] = client_id
        result: dict[str, Any] = self._call("POST", "/reconciliation/run", json=body)
        return result

    def reconciliation_files(
        self, *, customer_id: str | None = None, date: str | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {}
        if customer_id is not None:
            params["customerId"] = customer_id
        if date is not None:
            params["date"] = date
        files: list[dict[str, Any]] = self._call("GET", "/reconciliation/files", params=params)["files"]
        return files

    def download(self, path: str) -> bytes:
        """A report's bytes; ``path`` as listed (``v1/settlements/<customerId>/<date>/<name>``)."""
        response = self._http.get(f"/_emulator/reconciliation/files/{path.lstrip('/')}")
        if response.status_code >= 400:
            raise ControlApiError(response.status_code, response.text)
        return response.content

    # -- Developer Center applications (issue #9) --------------------------------------------

    def create_application(
        self,
        *,
        role: str,
        name: str,
        test_currency: str,
        type: str = "POS terminal",
        region: str = "SG",
        description: str = "",
        product: str = "IN_STORE_PAYMENT",
        scenarios: list[str] | None = None,
        notification_url: str | None = None,
    ) -> dict[str, Any]:
        """Create an application at runtime; returns its resources (like a ``sandbox()`` entry)."""
        body: dict[str, Any] = {
            "role": role,
            "name": name,
            "type": type,
            "region": region,
            "description": description,
            "product": product,
            "scenarios": scenarios or ["PaymentCode", "OrderCode", "EntryCode"],
            "testCurrency": test_currency,
        }
        if notification_url is not None:
            body["notificationUrl"] = notification_url
        result: dict[str, Any] = self._call("POST", "/applications", json=body)
        return result

    def applications(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/applications")["applications"]
        return found

    def application(self, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/applications/{client_id}")
        return result

    def update_application(self, client_id: str, **changes: Any) -> dict[str, Any]:
        """``changes`` in the API's camelCase (``name``, ``notificationUrl``, ...)."""
        result: dict[str, Any] = self._call("PATCH", f"/applications/{client_id}", json=changes)
        return result

    def delete_application(self, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/applications/{client_id}")
        return result

    def set_live_public_key(self, client_id: str, public_key: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/applications/{client_id}/live/public-key", json={"publicKey": public_key}
        )
        return result

    def launch(self, client_id: str, *, force: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/applications/{client_id}/launch", json={"force": force}
        )
        return result

    def confirm_live_change(self, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/applications/{client_id}/live/confirm")
        return result

    def authorization_url(self, client_id: str) -> str:
        return str(self._call("POST", f"/applications/{client_id}/authorization-url")["authorizationUrl"])

    def authorizations(self, client_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", f"/applications/{client_id}/authorizations")[
            "authorizations"
        ]
        return found

    def authorize_as_merchant(self, client_id: str, merchant_account: str, password: str) -> dict[str, Any]:
        """A sandbox merchant signs in with its merchant account and authorizes the ISV."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/applications/{client_id}/authorizations",
            json={"merchantAccount": merchant_account, "password": password},
        )
        return result

    def revoke_authorization(self, client_id: str, token: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/applications/{client_id}/authorizations/{token}")
        return result

    # -- acceptance runs and the notification tester (issue #10) ---------------------------

    def open_acceptance_run(self, client_id: str, cases: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"clientId": client_id}
        if cases is not None:
            body["cases"] = cases
        result: dict[str, Any] = self._call("POST", "/acceptance/runs", json=body)
        return result

    def acceptance_run(self, run_id: int) -> dict[str, Any]:
        """The run with its grades as they stand now."""
        result: dict[str, Any] = self._call("GET", f"/acceptance/runs/{run_id}")
        return result

    def acceptance_runs(self, client_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self._call("GET", "/acceptance/runs", params={"clientId": client_id})[
            "runs"
        ]
        return runs

    def acceptance_junit(self, run_id: int) -> str:
        return str(self._call("GET", f"/acceptance/runs/{run_id}", params={"format": "junit"}))

    def start_acceptance_case(self, run_id: int, case_id: str) -> dict[str, Any]:
        """Arm a case; the answer carries its instruction and the values to use (code, amount)."""
        result: dict[str, Any] = self._call("POST", f"/acceptance/runs/{run_id}/cases/{case_id}/start")
        return result

    def finish_acceptance_run(self, run_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/acceptance/runs/{run_id}/finish")
        return result

    def test_notification(
        self,
        client_id: str,
        url: str,
        *,
        type: str = "PAYMENT_RESULT",
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one signed sample notification to ``url`` now; how the endpoint answered."""
        payload: dict[str, Any] = {"clientId": client_id, "url": url, "type": type}
        if body is not None:
            payload["body"] = body
        result: dict[str, Any] = self._call("POST", "/notifications/test", json=payload)
        return result


@dataclass(frozen=True)
class ReceivedNotification:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    def verify(self, alipay_public_key: str) -> bool:
        """Check the gateway's signature exactly as a merchant's server would (spec §1.4)."""
        from .signing import (
            SignatureMismatch,
            canonical_message,
            load_public_key,
            parse_signature_header,
            verify,
        )

        try:
            sig = parse_signature_header(self.headers.get("signature", ""))
            message = canonical_message(
                method="POST",
                path=self.path,
                client_id=self.headers.get("client-id", ""),
                time=self.headers.get("request-time", ""),
                body=self.body,
            )
            verify(message, sig.signature, load_public_key(alipay_public_key))
        except SignatureMismatch:
            return False
        return True


ACK = {"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}}


class _BurstServer(ThreadingHTTPServer):
    """Accepts a burst of connections: the standard library's listen backlog is 5, and each
    delivery thread of each emulator process may connect at once (a refused or delayed
    handshake past the notify timeout is a failed attempt, retried minutes later)."""

    request_queue_size = 128


class NotificationReceiver:
    """A local HTTP endpoint for notifyPayment / notifyRefund that tests can await.

    ``script`` lists the answers to give, in order, as ``(status, json_body)``; once used up it
    acknowledges every notification.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, path: str = "/notify") -> None:
        self.path = path
        self.received: list[ReceivedNotification] = []
        self.script: list[tuple[int, dict[str, Any]]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                item = ReceivedNotification(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with receiver._cond:
                    receiver.received.append(item)
                    status, body = receiver.script.pop(0) if receiver.script else (200, ACK)
                    receiver._cond.notify_all()
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _BurstServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def start(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NotificationReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        with self._cond:
            self.received.clear()
            self.script.clear()

    def wait_for(self, count: int = 1, *, timeout: float = 10.0) -> list[ReceivedNotification]:
        """Block until ``count`` notifications arrived (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self.received)} of {count} notifications arrived in {timeout} s"
                    )
                self._cond.wait(left)
            return list(self.received)
