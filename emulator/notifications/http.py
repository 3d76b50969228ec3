"""The notification POST: keep-alive HTTP/1.1 with the standard library, one connection per thread
and origin.

Measured with a local receiver (issue #15): httpx spent about 6x the CPU of ``http.client`` per
small POST, and a pay's notification costs as much as the pay itself, so delivery uses this
instead. Redirects are not followed (a notification URL answers itself); the timeout applies to
connecting and to each read and write.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# How much of an answer is kept (the attempt's response body).
MAX_BODY_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str


# url, body, headers -> the answer; raises on any transport failure (a failed attempt).
Post = Callable[[str, bytes, Mapping[str, str]], Answer]


class KeepAlivePost:
    """``post(url, body, headers)``: a POST over a connection this thread keeps open per origin."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._local = threading.local()
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.hostname, parts.port)
        pool: dict[tuple[str, str, int | None], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        conn = pool.get(key)
        reused = conn is not None
        if conn is None:
            conn = pool[key] = self._connect(parts.scheme, parts.hostname, parts.port)
        try:
            return self._exchange(conn, pool, key, target, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            pool.pop(key, None)
            conn.close()
            if not reused:
                raise
        # The receiver closed the idle connection we kept: once more on a new one.
        conn = pool[key] = self._connect(parts.scheme, parts.hostname, parts.port)
        return self._exchange(conn, pool, key, target, body, headers)

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        pool: dict[tuple[str, str, int | None], http.client.HTTPConnection],
        key: tuple[str, str, int | None],
        target: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Answer:
        try:
            conn.request("POST", target, body=body, headers=dict(headers))
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            pool.pop(key, None)
            conn.close()
            raise
        if response.will_close:
            pool.pop(key, None)
            conn.close()
        charset = response.headers.get_content_charset() or "utf-8"
        try:
            text = data.decode(charset, errors="replace")
        except LookupError:
            text = data.decode("utf-8", errors="replace")
        return Answer(response.status, text[:MAX_BODY_CHARS])

    def _connect(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            conn = http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._timeout)
        with self._lock:
            self._all.add(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            conns, self._all = list(self._all), weakref.WeakSet()
        for conn in conns:
            conn.close()
