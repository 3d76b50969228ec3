"""Test support: a real emulator process, the official SDK in its own venv, throwaway databases."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from emulator.storage import disposable_engine

REPO = Path(__file__).resolve().parent.parent
SDK_VERSION = "1.7.1"
SDK_VENV = Path(
    os.environ.get("ALIPAY_EMULATOR_SDK_VENV", REPO / ".cache" / f"sdk-venv-{SDK_VERSION}")
)
DRIVER = REPO / "tests" / "sdk" / "driver.py"
POSTGRES_ENV = "ALIPAY_EMULATOR_TEST_POSTGRES_URL"


def free_port() -> int:
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


def ensure_sdk_venv() -> Path:
    """The official SDK in its own virtual environment (it pins cryptography==44.0.3)."""
    python = SDK_VENV / "bin" / "python"
    marker = SDK_VENV / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"global-open-sdk-python=={SDK_VERSION}"],
            check=True,
            timeout=600,
        )
        marker.write_text(SDK_VERSION)
    return python


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards; yields its URL."""
    base = os.environ[POSTGRES_ENV]
    name = f"alipay_emulator_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = disposable_engine(base)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class EmulatorProcess:
    """``alipay-emulator serve`` as a user runs it, on free ports and a private data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        tls_port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.tls_port = tls_port if tls_port is not None else free_port()
        self.database_url = database_url
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def start(self, timeout: float = 30) -> EmulatorProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
        env.update(
            ALIPAY_EMULATOR_PORT=str(self.port),
            ALIPAY_EMULATOR_TLS_PORT=str(self.tls_port),
            ALIPAY_EMULATOR_SFTP_PORT="0",
            ALIPAY_EMULATOR_DATA_DIR=str(self.data_dir),
            ALIPAY_EMULATOR_LOG_LEVEL="warning",
        )
        if self.database_url:
            env["ALIPAY_EMULATOR_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "emulator", "serve"],
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
        raise RuntimeError(f"emulator not healthy within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait for the drain; returns the exit code."""
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


class SdkDriver:
    """A long-lived process of the official SDK answering JSON commands (tests/sdk/driver.py)."""

    def __init__(self, python: Path, *, ca_file: Path, port_override: int | None) -> None:
        env = dict(os.environ)
        env["SSL_CERT_FILE"] = str(ca_file)
        env.pop("SDK_PORT_OVERRIDE", None)
        if port_override is not None:
            env["SDK_PORT_OVERRIDE"] = str(port_override)
        self.proc = subprocess.Popen(
            [str(python), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def call(self, op: str, client: dict[str, Any] | None = None, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, "client": client, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the SDK driver died")
        result: dict[str, Any] = json.loads(line)
        return result

    def body(self, op: str, client: dict[str, Any] | None = None, **args: Any) -> dict[str, Any]:
        """The response body; fails the test if the SDK itself raised (e.g. signature check)."""
        out = self.call(op, client, **args)
        if not out["ok"]:
            raise AssertionError(
                f"the SDK raised {out['type']}: {out['error']}\n{out.get('trace')}"
            )
        body: dict[str, Any] = out["body"]
        return body

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()


def signed_post(
    base_url: str, app: dict[str, Any], api: str, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    """Sign and send one gateway call over plain HTTP, as an SDK would; returns the JSON body."""
    from emulator.signing import canonical_message, load_private_key, sign, signature_header

    raw = json.dumps(body).encode()
    path = f"/ams/sandbox/api/v1/payments/{api}"
    req_time = str(int(time.time() * 1000))
    message = canonical_message(
        method="POST", path=path, client_id=app["clientId"], time=req_time, body=raw
    )
    sig = sign(message, load_private_key(app["merchantPrivateKeyPem"]))
    response = httpx.post(
        base_url + path,
        content=raw,
        headers={
            "content-type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "request-time": req_time,
            "signature": signature_header(sig),
            **headers,
        },
        timeout=30,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data
