"""The notification tester grades an endpoint: a good one, a 500, a slow one, a wrong body."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings
from emulator.testing import ACK, ReceivedNotification


class Endpoint:
    """Answers every POST with ``status``/``body`` after ``delay`` seconds; keeps what came."""

    def __init__(self, status: int, body: bytes, delay: float = 0.0) -> None:
        self.received: list[ReceivedNotification] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                endpoint.received.append(
                    ReceivedNotification(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                )
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    return  # the tester gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alipay/notify?shop=1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, notify_timeout_seconds=0.5)
    with TestClient(create_app(settings)) as client:
        yield client


def _test(http: TestClient, endpoint: Endpoint, **extra: Any) -> dict[str, Any]:
    sandbox = http.get("/_emulator/sandbox").json()
    app = sandbox["applications"][0]
    response = http.post(
        "/_emulator/notifications/test", json={"clientId": app["clientId"], "url": endpoint.url, **extra}
    )
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def test_a_good_endpoint_acknowledges_a_signed_sample(http: TestClient) -> None:
    endpoint = Endpoint(200, json.dumps(ACK).encode())
    try:
        out = _test(http, endpoint)
        refund = _test(http, endpoint, type="REFUND_RESULT")
    finally:
        endpoint.stop()
    assert out["acknowledged"] is True and out["reason"] is None
    assert out["httpStatus"] == 200 and json.loads(out["body"]) == ACK and out["latencyMs"] > 0
    assert out["sent"]["notifyType"] == "PAYMENT_RESULT" and refund["sent"]["notifyType"] == "REFUND_RESULT"
    # What arrived is signed like a real notification: path with query, Alipay key (spec §1.4).
    first = endpoint.received[0]
    assert first.path == "/alipay/notify?shop=1"
    assert first.verify(http.get("/_emulator/sandbox").json()["alipayPublicKey"])
    assert json.loads(first.body) == out["sent"]


def test_an_http_500_is_no_acknowledgement(http: TestClient) -> None:
    endpoint = Endpoint(500, b"boom")
    try:
        out = _test(http, endpoint)
    finally:
        endpoint.stop()
    assert out["acknowledged"] is False and out["httpStatus"] == 500
    assert "HTTP 500" in out["reason"] and "HTTP 200" in out["reason"]


def test_a_slow_endpoint_past_the_timeout_is_no_acknowledgement(http: TestClient) -> None:
    endpoint = Endpoint(200, json.dumps(ACK).encode(), delay=1.5)
    try:
        out = _test(http, endpoint)
    finally:
        endpoint.stop()
    assert out["acknowledged"] is False and out["httpStatus"] is None
    assert "no answer within 0.5 s" in out["reason"]


def test_a_wrong_body_is_no_acknowledgement(http: TestClient) -> None:
    endpoint = Endpoint(200, b'{"status": "ok"}')
    try:
        out = _test(http, endpoint, body={"notifyType": "PAYMENT_RESULT", "paymentId": "P1"})
    finally:
        endpoint.stop()
    assert out["acknowledged"] is False and out["httpStatus"] == 200
    assert "resultStatus" in out["reason"]
    assert json.loads(endpoint.received[0].body) == {"notifyType": "PAYMENT_RESULT", "paymentId": "P1"}


def test_bad_requests_name_the_field(http: TestClient) -> None:
    app = http.get("/_emulator/sandbox").json()["applications"][0]
    bad_type = http.post(
        "/_emulator/notifications/test",
        json={"clientId": app["clientId"], "url": "http://127.0.0.1:9/", "type": "X"},
    )
    assert bad_type.status_code == 422 and "type" in bad_type.json()["error"]
    bad_url = http.post("/_emulator/notifications/test", json={"clientId": app["clientId"], "url": "ftp://x"})
    assert bad_url.status_code == 422 and "url" in bad_url.json()["error"]
    nobody = http.post(
        "/_emulator/notifications/test", json={"clientId": "NOPE", "url": "http://127.0.0.1:9/"}
    )
    assert nobody.status_code == 404 and "clientId" in nobody.json()["error"]
