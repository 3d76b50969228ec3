"""The floor for bench/gateway.py: verify the request signature, sign a fixed answer, nothing else.

It is served by the emulator's own uvicorn configuration (``emulator.server._config``: httptools,
asyncio loop, same host, log level and server header) and signs the way the emulator does (on
``emulator.signer.Signer``'s threads, off the event loop, per the same
``ALIPAY_EMULATOR_SIGNING_THREADS`` setting), so the emulator/floor ratio measures what the
emulator adds on top of the unavoidable work of one signed gateway call: HTTP parsing, one
RSA-SHA256 verify (merchant key) and one RSA-SHA256 sign (Alipay key).

    python bench/floor.py --port 8181 --keys keys.json

``keys.json`` is ``{"merchantPublicKeys": {"<client-id>": "<base64 SPKI>"}}`` (what
``GET /_emulator/sandbox`` lists); the Alipay signing key comes from the sandbox fixtures,
like the emulator's (``ALIPAY_EMULATOR_FIXTURES`` is honoured).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.clock import GMT8
from emulator.sandbox.fixtures import load_definition
from emulator.server import _config
from emulator.settings import Settings
from emulator.signer import Signer
from emulator.signing import (
    SignatureMismatch,
    canonical_message,
    load_public_key,
    parse_signature_header,
    signature_header,
    verify,
)

# About the size of the emulator's pay answer, so both sides sign and send similar bytes.
FIXED_BODY = json.dumps(
    {
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "Success."},
        "paymentRequestId": "BENCH-FLOOR-0000000000",
        "paymentId": "20261126194010800100188000000000001",
        "paymentAmount": {"currency": "USD", "value": "1"},
        "paymentCreateTime": "2026-11-26T12:00:00+08:00",
        "paymentTime": "2026-11-26T12:00:00+08:00",
        "pspCustomerInfo": {
            "pspName": "ALIPAY_CN",
            "pspCustomerId": "2088000000000000",
            "displayCustomerId": "flo***@example.com",
        },
    },
    separators=(",", ":"),
).encode()

_REFUSED = b'{"result":{"resultCode":"INVALID_SIGNATURE","resultStatus":"F"}}'


class FloorApp:
    """A bare ASGI app: no router, no database, no threads but the emulator's signing ones."""

    def __init__(
        self, *, merchant_keys: dict[str, rsa.RSAPublicKey], alipay_key: rsa.RSAPrivateKey, signer: Signer
    ):
        self._keys = merchant_keys
        self._alipay_key = alipay_key
        self._signer = signer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = dict(scope["headers"])  # uvicorn hands over lower-case names
        client_id = headers.get(b"client-id", b"").decode("latin-1")
        status, answer = 200, FIXED_BODY
        try:
            key = self._keys[client_id]
            parsed = parse_signature_header(headers.get(b"signature", b"").decode("latin-1"))
            message = canonical_message(
                method=scope["method"],
                path=scope["path"],
                client_id=client_id,
                time=headers.get(b"request-time", b"").decode("latin-1"),
                body=body,
            )
            verify(message, parsed.signature, key)
        except (KeyError, SignatureMismatch):
            status, answer = 401, _REFUSED
        response_time = datetime.now(UTC).astimezone(GMT8).replace(microsecond=0).isoformat()
        signed = canonical_message(
            method="POST", path=scope["path"], client_id=client_id, time=response_time, body=answer
        )
        signature = await self._signer.sign(signed, self._alipay_key)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=UTF-8"),
                    (b"content-length", str(len(answer)).encode()),
                    (b"client-id", client_id.encode("latin-1")),
                    (b"response-time", response_time.encode()),
                    (b"signature", signature_header(signature).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", type=Path, required=True, help="JSON: merchantPublicKeys")
    args = parser.parse_args()
    # Same Settings source as `alipay-emulator serve` (ALIPAY_EMULATOR_* environment).
    settings = Settings(port=args.port)
    keys = json.loads(args.keys.read_text())["merchantPublicKeys"]
    app = FloorApp(
        merchant_keys={cid: load_public_key(b64) for cid, b64 in keys.items()},
        alipay_key=load_definition(settings.fixtures_dir).alipay_private_key,
        signer=Signer(settings.signing_threads),
    )
    uvicorn.Server(_config(app, settings, port=args.port, lifespan="off")).run()


if __name__ == "__main__":
    main()
