"""Answer signing off the event loop (emulator/signer.py, issue #15)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.settings import Settings
from emulator.signer import MAX_AUTO_THREADS, Signer, auto_threads, usable_cpus
from emulator.signing import sign

from .conftest import Gateway
from .gateway.test_pipeline import INQUIRY, assert_signed


def test_auto_threads_follow_the_cpus_inline_on_one() -> None:
    assert usable_cpus() is not None
    assert auto_threads(None) == 0
    assert auto_threads(1) == 0
    assert auto_threads(2) == 1  # the event loop keeps a CPU of its own
    assert auto_threads(4) == 3
    assert auto_threads(64) == MAX_AUTO_THREADS


@pytest.mark.parametrize("threads", [0, 2])
def test_signer_gives_the_plain_signature(threads: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = Signer(threads)
    messages = [f"POST /ams/api/v1/payments/pay\nclient.{i}.{{}}".encode() for i in range(8)]

    async def main() -> list[str]:
        return list(await asyncio.gather(*(signer.sign(m, key) for m in messages)))

    try:
        signatures = asyncio.run(main())
    finally:
        signer.close()
    # PKCS#1 v1.5 is deterministic: the same text as signing inline, in the callers' order.
    assert signatures == [sign(m, key) for m in messages]
    assert signer.threads == threads


def test_signing_threads_run_beside_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work really leaves the loop's thread when there are threads (and stays without)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names: list[tuple[int, str]] = []
    threads = 0

    def recording(message: bytes, k: rsa.RSAPrivateKey) -> str:
        names.append((threads, threading.current_thread().name))
        return sign(message, k)

    monkeypatch.setattr("emulator.signer.sign", recording)
    for threads in (0, 2):
        signer = Signer(threads)
        asyncio.run(signer.sign(b"m", key))
        signer.close()
    assert names[0] == (0, "MainThread")
    assert names[1][0] == 2 and names[1][1].startswith("sign")


@pytest.fixture(params=[0, 2], ids=["inline", "threads"])
def threaded_gateway(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Gateway]:
    with TestClient(create_app(settings.model_copy(update={"signing_threads": request.param}))) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())


def test_answers_are_signed_and_journalled_as_sent(threaded_gateway: Gateway) -> None:
    gw = threaded_gateway
    response = gw.post("inquiryPayment", {"paymentRequestId": "nope"})
    assert_signed(gw, response, INQUIRY)
    # The journal records the answer after it was signed: the signature it shows is the one sent.
    entry = gw.http.get("/_emulator/requests").json()["requests"][0]
    assert entry["response"]["headers"]["signature"] == response.headers["signature"]
    assert entry["response"]["headers"]["response-time"] == response.headers["response-time"]
