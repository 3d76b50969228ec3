"""Test support: a real emulator process, the official SDK in its own venv, throwaway databases."""

from __future__ import annotations

import contextlib
import json
import os
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
from emulator.testing import EmulatorServer, can_bind, free_port

__all__ = [
    "EmulatorProcess",
    "SdkDriver",
    "SignedGateway",
    "can_bind",
    "ensure_sdk_venv",
    "free_port",
    "postgres_database",
    "signed_post",
]

REPO = Path(__file__).resolve().parent.parent
SDK_VERSION = "1.7.1"
SDK_VENV = Path(os.environ.get("ALIPAY_EMULATOR_SDK_VENV", REPO / ".cache" / f"sdk-venv-{SDK_VERSION}"))
DRIVER = REPO / "tests" / "sdk" / "driver.py"
POSTGRES_ENV = "ALIPAY_EMULATOR_TEST_POSTGRES_URL"
# paymentNotifyUrl is required on every pay (issue #12). Nothing listens on port 9 (discard):
# deliveries fail and are retried, which the tests that do not watch notifications ignore.
NOTIFY_URL = "http://127.0.0.1:9/notify"
PAY_OPS = ("pay_code", "pay_order_code", "pay_entry_code")


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


# The suite starts the emulator the way the pytest plugin and users do.
EmulatorProcess = EmulatorServer


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
        """Pays carry ``NOTIFY_URL`` unless ``notifyUrl`` is given (``None``: the SDK sends none)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if op in PAY_OPS:
            args.setdefault("notifyUrl", NOTIFY_URL)
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
            raise AssertionError(f"the SDK raised {out['type']}: {out['error']}\n{out.get('trace')}")
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
    message = canonical_message(method="POST", path=path, client_id=app["clientId"], time=req_time, body=raw)
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


class SignedGateway:
    """Signed gateway calls over one keep-alive client, keys loaded once (the test's hot loop)."""

    def __init__(self, *, keepalive: bool = True) -> None:
        self._keys: dict[str, Any] = {}
        limits = httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0)
        self._http = httpx.Client(timeout=30, limits=limits)

    def close(self) -> None:
        self._http.close()

    def post(self, base_url: str, app: dict[str, Any], api: str, body: dict[str, Any]) -> httpx.Response:
        from emulator.signing import canonical_message, load_private_key, sign, signature_header

        key = self._keys.get(app["clientId"])
        if key is None:
            key = self._keys[app["clientId"]] = load_private_key(app["merchantPrivateKeyPem"])
        raw = json.dumps(body).encode()
        path = f"/ams/sandbox/api/v1/payments/{api}"
        req_time = str(int(time.time() * 1000))
        message = canonical_message(
            method="POST", path=path, client_id=app["clientId"], time=req_time, body=raw
        )
        headers = {
            "content-type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "request-time": req_time,
            "signature": signature_header(sign(message, key)),
        }
        return self._http.post(base_url + path, content=raw, headers=headers)

    def call(self, base_url: str, app: dict[str, Any], api: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(base_url, app, api, body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data
