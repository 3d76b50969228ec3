"""Notification receiver for bench/gateway.py: acknowledges every notification like a merchant's server.

    python bench/receiver.py --port 8282

Keep-alive HTTP/1.1 on loopback. Every ``POST`` is answered HTTP 200 with the documented
acknowledgement (spec §1.4) and counted by ``notifyType`` and by payment or refund id (a second
notification for the same id is a redelivery). ``GET /stats`` answers the counts and the first
few notifications exactly as received, so the benchmark can check their signatures with the
Alipay public key like a merchant would. Runs as a process of its own, so its CPU is not the
load generator's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections import Counter
from typing import Any

ACK = b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'
SAMPLES = 5
MAX_REQUEST = 1 << 20


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


_ACKED = _response("200 OK", ACK)


class Stats:
    def __init__(self) -> None:
        self.total = 0
        self.unreadable = 0
        self.kinds: Counter[str] = Counter()
        self.ids: dict[str, set[str]] = {}
        self.samples: list[dict[str, str]] = []

    def add(self, head: bytes, body: bytes) -> None:
        self.total += 1
        try:
            data = json.loads(body)
            kind = str(data["notifyType"])
            key = str(data.get("refundId") or data["paymentId"])
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        self.kinds[kind] += 1
        self.ids.setdefault(kind, set()).add(key)
        if len(self.samples) < SAMPLES:
            self.samples.append({"head": head.decode("latin-1"), "body": body.decode("utf-8", "replace")})

    def view(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "unreadable": self.unreadable,
            "received": dict(self.kinds),
            "unique": {kind: len(ids) for kind, ids in self.ids.items()},
            "samples": self.samples,
        }


class Handler(asyncio.Protocol):
    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_REQUEST:
                    self._close()
                return
            head = bytes(buf[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or b"0")
            if length > MAX_REQUEST:
                self._close()
                return
            stop = end + 4 + length
            if len(buf) < stop:
                return
            body = bytes(buf[end + 4 : stop])
            del buf[:stop]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self._transport is not None
        if head.startswith(b"GET /stats"):
            self._transport.write(_response("200 OK", json.dumps(self._stats.view()).encode()))
        elif head.startswith(b"POST "):
            self._stats.add(head, body)
            self._transport.write(_ACKED)
        else:
            self._transport.write(_response("404 Not Found", b"{}"))

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(port: int) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(stats), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(args.port))


if __name__ == "__main__":
    main()
