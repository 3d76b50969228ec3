"""Shared fixtures: an in-process app per test, and a live emulator driven by the official SDK."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings
from emulator.signing import canonical_message, load_private_key, sign, signature_header
from emulator.testing import EmulatorClient

from .support import (
    NOTIFY_URL,
    POSTGRES_ENV,
    EmulatorProcess,
    SdkDriver,
    can_bind,
    ensure_sdk_venv,
    free_port,
    postgres_database,
)

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get(POSTGRES_ENV) else [])
_notes: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for note in dict.fromkeys(_notes):
        terminalreporter.write_line(f"NOTE: {note}")


# -- in-process -----------------------------------------------------------------------------


@dataclass
class Gateway:
    """Signs and posts gateway calls to an in-process app, like an SDK would."""

    http: TestClient
    sandbox: dict[str, Any]

    def app(self, index: int = 0) -> dict[str, Any]:
        apps: list[dict[str, Any]] = self.sandbox["applications"]
        return apps[index]

    def by_role(self, role: str) -> dict[str, Any]:
        return next(a for a in self.sandbox["applications"] if a["role"] == role)

    def buyer(self, behaviour: str = "normal") -> dict[str, Any]:
        return next(b for b in self.sandbox["buyers"] if b["behaviour"] == behaviour)

    def code(self, behaviour: str = "normal") -> str:
        login = self.buyer(behaviour)["loginId"]
        return str(self.http.post(f"/_emulator/buyers/{login}/payment-codes").json()["paymentCode"])

    def post(
        self,
        api: str,
        body: dict[str, Any] | bytes,
        *,
        app: dict[str, Any] | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        key_version: str = "1",
        sign_path: str | None = None,
        private_key: str | None = None,
    ) -> Any:
        app = app or self.app()
        raw = body if isinstance(body, bytes) else json.dumps(body, indent=3).encode()
        path = path or f"/ams/sandbox/api/v1/payments/{api}"
        req_time = "2026-11-26T04:22:19+00:00"
        key = load_private_key(private_key or app["merchantPrivateKeyPem"])
        message = canonical_message(
            method="POST",
            path=sign_path or path,
            client_id=app["clientId"],
            time=req_time,
            body=raw,
        )
        hdrs = {
            "Content-Type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "Request-Time": req_time,
            "Signature": signature_header(sign(message, key), key_version),
        }
        hdrs.update(headers or {})
        return self.http.post(path, content=raw, headers={k: v for k, v in hdrs.items() if v is not None})

    def call(self, api: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = self.post(api, body, **kw)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def pay_body(
    code: str,
    *,
    request_id: str = "PR-1",
    currency: str = "USD",
    amount: int = 1000,
    notify_url: str | None = NOTIFY_URL,
) -> dict[str, Any]:
    body = {
        "productCode": "IN_STORE_PAYMENT",
        "paymentRequestId": request_id,
        "order": {
            "referenceOrderId": f"ORDER-{request_id}",
            "orderDescription": "unit test order",
            "orderAmount": {"currency": currency, "value": str(amount)},
            "merchant": {
                "referenceMerchantId": "M1",
                "merchantMCC": "5411",
                "merchantName": "Shop",
                "store": {"referenceStoreId": "S1", "storeName": "Store", "storeMCC": "5411"},
            },
            "env": {
                "storeTerminalId": "T1",
                "storeTerminalRequestTime": "2026-11-26T10:00:00+08:00",
            },
        },
        "paymentAmount": {"currency": currency, "value": str(amount)},
        "paymentMethod": {"paymentMethodType": "CONNECT_WALLET", "paymentMethodId": code},
        "paymentFactor": {"inStorePaymentScenario": "PaymentCode"},
    }
    if notify_url is not None:
        body["paymentNotifyUrl"] = notify_url
    return body


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, port=8080)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    """A fresh app (fresh SQLite database) per test."""
    with TestClient(create_app(settings)) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())


# -- live emulator + official SDK ------------------------------------------------------------


@dataclass
class Live:
    process: EmulatorProcess
    control: EmulatorClient
    sdk: SdkDriver
    backend: str
    sandbox: dict[str, Any] = field(default_factory=dict)

    def app(self, role: str = "MERCHANT", index: int = 0) -> dict[str, Any]:
        return [a for a in self.sandbox["applications"] if a["role"] == role][index]

    def buyer(self, behaviour: str = "normal") -> dict[str, Any]:
        return next(b for b in self.sandbox["buyers"] if b["behaviour"] == behaviour)

    def client(
        self, app: dict[str, Any], *, agent_token: str | None = None, private_key: str | None = None
    ) -> dict[str, Any]:
        """What a user passes to DefaultAlipayClient: gateway URL, client ID, keys."""
        return {
            "gateway": "https://localhost",
            "clientId": app["clientId"],
            "privateKey": private_key or app["merchantPrivateKeyPem"],
            "alipayPublicKey": self.sandbox["alipayPublicKey"],
            "agentToken": agent_token,
        }


@contextmanager
def running(process: EmulatorProcess, *, backend: str) -> Iterator[Live]:
    """Start ``process``, give it an SDK driver and a control client; stop all, expect exit 0."""
    process.start(timeout=120)  # generous: a shared CI machine may be slow to import and seed
    port_override = None if process.tls_port == 443 else process.tls_port
    sdk = SdkDriver(ensure_sdk_venv(), ca_file=process.ca_file, port_override=port_override)
    control = EmulatorClient(process.http_url)
    try:
        yield Live(process=process, control=control, sdk=sdk, backend=backend, sandbox=control.sandbox())
    finally:
        sdk.close()
        control.close()
        code = process.stop()
        assert code == 0, f"emulator exited with {code} on SIGTERM:\n{process.log()}"


@pytest.fixture(scope="session", params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    backend: str = request.param
    tls_port = 443 if can_bind(443) else None
    if tls_port is None:
        _notes.append(
            "port 443 could not be bound: the SDK end-to-end tests ran with only the SDK's "
            "connection port patched to the emulator's TLS port"
        )
    with _database(backend) as url:
        data = tmp_path_factory.mktemp(f"live-{backend}") / "data"
        # SFTP on too: the README's download examples run against this emulator.
        process = EmulatorProcess(data, database_url=url, tls_port=tls_port, sftp_port=free_port())
        with running(process, backend=backend) as live:
            yield live


def _database(backend: str) -> Any:
    if backend == "postgres":
        return postgres_database()
    from contextlib import nullcontext

    return nullcontext(None)


@pytest.fixture
def emu(live: Live) -> Live:
    """The live emulator, reset to the seeded sandbox before the test."""
    live.control.reset()
    return live
