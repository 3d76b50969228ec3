"""The notification POST: keep-alive HTTP/1.1 on a plain socket, one connection per thread and
origin, the answer read with httptools (the C parser uvicorn already uses).

Measured with a local receiver (issue #15): httpx spent about 6x the CPU of ``http.client`` per
small POST, and ``http.client`` about 90 µs of it (its header writing and the e-mail parser
it reads answers with); this costs about a quarter of that. A pay's notification costs as much
as the pay itself, so the difference is seen in pay throughput. What it honours: Content-Length,
chunked and close-delimited answers, interim 1xx answers, ``Connection: close`` and HTTP/1.0,
HTTPS, one timeout for connecting and for each read and write. Redirects are not followed (a
notification URL answers itself). At most ``MAX_ANSWER_BYTES`` of an answer are read: past
that the attempt fails and the connection is dropped.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

# How much of an answer is kept (the attempt's response body).
MAX_BODY_CHARS = 4096
# How much of an answer is read at all (an acknowledgement is a few dozen bytes).
MAX_ANSWER_BYTES = 1 << 20
_READ_BYTES = 16384
_KEPT_BYTES = MAX_BODY_CHARS * 4  # enough bytes for MAX_BODY_CHARS characters of UTF-8
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What http.client refuses too: control characters and spaces in the target, CR/LF in a header.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str


# url, body, headers -> the answer; raises on any transport failure (a failed attempt).
Post = Callable[[str, bytes, Mapping[str, str]], Answer]


class RemoteClosed(ConnectionError):
    """The receiver closed the connection before it had answered."""


class AnswerTooLarge(ValueError):
    """The receiver's answer is longer than ``MAX_ANSWER_BYTES``."""


class _Reading:
    """httptools callbacks for one answer (interim 1xx answers are skipped)."""

    __slots__ = (
        "charset",
        "complete",
        "framed",
        "headers_done",
        "keep_alive",
        "kept",
        "parser",
        "parts",
        "read",
        "status",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.read = 0
        self.charset: str | None = None
        self.on_message_begin()

    def on_message_begin(self) -> None:
        self.status = 0
        self.headers_done = self.complete = self.keep_alive = self.framed = False
        self.charset = None
        self.parts: list[bytes] = []
        self.kept = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower in (b"content-length", b"transfer-encoding"):
            self.framed = True
        elif lower == b"content-type":
            self.charset = _charset(value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, data: bytes) -> None:
        if self.kept < _KEPT_BYTES:
            self.parts.append(data[: _KEPT_BYTES - self.kept])
            self.kept += len(self.parts[-1])

    def on_message_complete(self) -> None:
        if not 100 <= self.status < 200:
            self.complete = True
            # Read here: once feed_data returns, the parser has moved on to the next message.
            self.keep_alive = self.parser.should_keep_alive()

    def answer(self) -> Answer:
        data = b"".join(self.parts)
        try:
            text = data.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            text = data.decode("utf-8", errors="replace")
        return Answer(self.status, text[:MAX_BODY_CHARS])


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


class _Connection:
    __slots__ = ("__weakref__", "buffer", "host", "sock")

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.host = host  # the Host header
        # Read into, reused: a fresh 64 KiB bytes per recv() costs more in the kernel (the heap
        # grown and trimmed again) than the whole exchange otherwise does.
        self.buffer = memoryview(bytearray(_READ_BYTES))

    def post(self, target: str, body: bytes, headers: Mapping[str, str]) -> tuple[Answer, bool]:
        """The answer, and whether the connection may be used again; raises ``RemoteClosed``
        when the receiver closed it before sending a byte (a kept connection it let go)."""
        lines = [f"POST {target} HTTP/1.1", f"Host: {self.host}", "Accept-Encoding: identity"]
        lines.append(f"Content-Length: {len(body)}")
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"invalid header {name!r}")
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        self.sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        reading = _Reading()
        while not reading.complete:
            size = self.sock.recv_into(self.buffer)
            if not size:
                if reading.read == 0:
                    raise RemoteClosed("the receiver closed the connection without answering")
                if reading.headers_done and not reading.framed:
                    return reading.answer(), False  # the body ran to the end of the connection
                raise RemoteClosed("the receiver closed the connection in the middle of its answer")
            reading.read += size
            if reading.read > MAX_ANSWER_BYTES:
                raise AnswerTooLarge(f"the answer is longer than {MAX_ANSWER_BYTES} bytes")
            reading.parser.feed_data(self.buffer[:size])
        return reading.answer(), reading.keep_alive

    def close(self) -> None:
        self.sock.close()


class KeepAlivePost:
    """``post(url, body, headers)``: a POST over a connection this thread keeps open per origin."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._local = threading.local()
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._all: set[_Connection] = set()

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if _BAD_TARGET.search(target):
            raise ValueError(f"the URL's path has a space or a control character: {url!r}")
        key = (parts.scheme, parts.hostname, parts.port)
        pool: dict[tuple[str, str, int | None], _Connection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get(key)
        reused = conn is not None
        if conn is None:
            conn = pool[key] = self._connect(*key)
        try:
            return self._exchange(conn, pool, key, target, body, headers)
        except (RemoteClosed, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        # The receiver closed the idle connection we kept: once more on a new one.
        conn = pool[key] = self._connect(*key)
        return self._exchange(conn, pool, key, target, body, headers)

    def _exchange(
        self,
        conn: _Connection,
        pool: dict[tuple[str, str, int | None], _Connection],
        key: tuple[str, str, int | None],
        target: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Answer:
        try:
            answer, keep = conn.post(target, body, headers)
        except BaseException:
            self._drop(pool, key, conn)
            raise
        if not keep:
            self._drop(pool, key, conn)
        return answer

    def _connect(self, scheme: str, host: str, port: int | None) -> _Connection:
        default = _DEFAULT_PORTS[scheme]
        sock = socket.create_connection((host, port or default), timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                sock = self._tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        name = f"[{host}]" if ":" in host else host
        conn = _Connection(sock, name if port in (None, default) else f"{name}:{port}")
        with self._lock:
            self._all.add(conn)
        return conn

    def _drop(
        self,
        pool: dict[tuple[str, str, int | None], _Connection],
        key: tuple[str, str, int | None],
        conn: _Connection,
    ) -> None:
        if pool.get(key) is conn:
            del pool[key]
        conn.close()
        with self._lock:
            self._all.discard(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            conn.close()
