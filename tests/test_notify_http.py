"""The notification POST client (emulator.notifications.http) against a receiver that answers
exactly the bytes a test gives: framing, keep-alive, interim answers, closes and limits."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulator.notifications.http import MAX_BODY_CHARS, Answer, AnswerTooLarge, KeepAlivePost, RemoteClosed

ACK = b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'
HEADERS = {"content-type": "application/json; charset=UTF-8", "client-id": "SANDBOX_1", "signature": "x"}


def read_request(conn: socket.socket) -> bytes | None:
    """One whole request (head and Content-Length body), or None at end of connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return data


class Receiver:
    """Accepts connections; ``answer(n, request)`` gives the bytes for request ``n`` (None: close)."""

    def __init__(
        self, answer: Callable[[int, bytes], bytes | None], tls: ssl.SSLContext | None = None
    ) -> None:
        self.answer = answer
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:  # the client may hang up mid-answer (a refusal)
            if self.tls is not None:
                with self.tls.wrap_socket(conn, server_side=True) as tls:
                    self._exchange(tls)
            else:
                self._exchange(conn)

    def _exchange(self, conn: socket.socket) -> None:
        while (request := read_request(conn)) is not None:
            self.requests.append(request)
            reply = self.answer(len(self.requests), request)
            if reply is None:
                return
            conn.sendall(reply)
            if b"connection: close" in reply.lower() or reply.startswith(b"HTTP/1.0"):
                return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify?shop=1"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def post() -> Iterator[KeepAlivePost]:
    p = KeepAlivePost(timeout=2)
    yield p
    p.close()


def receiver(answer: Callable[[int, bytes], bytes | None]) -> Receiver:
    return Receiver(answer)


def framed(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_request_bytes_and_a_kept_connection(post: KeepAlivePost) -> None:
    r = receiver(lambda n, req: framed(ACK, "Content-Type: application/json"))
    try:
        for _ in range(3):
            answer = post(r.url, b'{"a":1}', HEADERS)
            assert (answer.status, answer.text) == (200, ACK.decode())
        assert r.connections == 1  # one connection, kept alive
        head, _, body = r.requests[0].partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /notify?shop=1 HTTP/1.1"
        assert f"Host: 127.0.0.1:{r.port}" in lines
        assert "Content-Length: 7" in lines
        assert "client-id: SANDBOX_1" in lines and "signature: x" in lines
        assert body == b'{"a":1}'
    finally:
        r.close()


def test_chunked_answer_in_its_charset(post: KeepAlivePost) -> None:
    text = "caf\u00e9 ok".encode("latin-1")
    chunked = (
        b"4\r\n" + text[:4] + b"\r\n" + f"{len(text) - 4:x}".encode() + b"\r\n" + text[4:] + b"\r\n0\r\n\r\n"
    )
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\n"
    r = receiver(lambda n, req: reply + chunked)
    try:
        assert post(r.url, b"{}", HEADERS).text == "caf\u00e9 ok"
        assert post(r.url, b"{}", HEADERS).text == "caf\u00e9 ok"
        assert r.connections == 1
    finally:
        r.close()


def test_close_delimited_answer_and_connection_close(post: KeepAlivePost) -> None:
    # No length: the body runs to the end of the connection, which is not used again.
    r = receiver(lambda n, req: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + ACK)
    try:
        assert post(r.url, b"{}", HEADERS).text == ACK.decode()
        assert post(r.url, b"{}", HEADERS).status == 200
        assert r.connections == 2
    finally:
        r.close()


def test_http_1_0_answer_is_not_kept(post: KeepAlivePost) -> None:
    r = receiver(lambda n, req: b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")
    try:
        assert post(r.url, b"{}", HEADERS) == Answer(500, "oops")
        assert post(r.url, b"{}", HEADERS) == Answer(500, "oops")
        assert r.connections == 2
    finally:
        r.close()


def test_interim_answer_is_skipped(post: KeepAlivePost) -> None:
    r = receiver(lambda n, req: b"HTTP/1.1 100 Continue\r\n\r\n" + framed(ACK))
    try:
        assert post(r.url, b"{}", HEADERS).text == ACK.decode()
    finally:
        r.close()


def test_a_kept_connection_the_receiver_closed_is_replaced(post: KeepAlivePost) -> None:
    # The second request meets a connection closed without answer: sent once more, on a new one.
    r = receiver(lambda n, req: None if n == 2 else framed(ACK))
    try:
        assert post(r.url, b"{}", HEADERS).status == 200
        assert post(r.url, b"{}", HEADERS).status == 200
        assert r.connections == 2 and len(r.requests) == 3
    finally:
        r.close()


def test_no_answer_on_a_new_connection_fails(post: KeepAlivePost) -> None:
    r = receiver(lambda n, req: None)
    try:
        with pytest.raises(RemoteClosed):
            post(r.url, b"{}", HEADERS)
        assert len(r.requests) == 1  # not sent again: the connection was not a kept one
    finally:
        r.close()


def test_a_cut_answer_fails(post: KeepAlivePost) -> None:
    r = receiver(lambda n, req: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort")
    try:
        with pytest.raises(RemoteClosed):
            post(r.url, b"{}", HEADERS)
    finally:
        r.close()


def test_silence_times_out() -> None:
    post = KeepAlivePost(timeout=0.3)
    gate = threading.Event()

    def stall(n: int, req: bytes) -> bytes:
        gate.wait(5)
        return framed(ACK)

    r = receiver(stall)
    try:
        with pytest.raises(TimeoutError):
            post(r.url, b"{}", HEADERS)
    finally:
        gate.set()
        r.close()
        post.close()


def test_a_long_answer_is_kept_short_and_an_endless_one_refused(post: KeepAlivePost) -> None:
    long = framed(b"y" * (MAX_BODY_CHARS * 3))
    endless = b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n" + b"z" * 5_000_000
    r = receiver(lambda n, req: long if n == 1 else endless)
    try:
        assert post(r.url, b"{}", HEADERS).text == "y" * MAX_BODY_CHARS
        with pytest.raises(AnswerTooLarge):
            post(r.url, b"{}", HEADERS)
    finally:
        r.close()


def test_what_cannot_be_sent_is_refused_before_sending(post: KeepAlivePost) -> None:
    r = receiver(lambda n, req: framed(ACK))
    try:
        with pytest.raises(ValueError, match="header"):
            post(r.url, b"{}", {**HEADERS, "agent-token": "a\r\nx-injected: 1"})
        with pytest.raises(ValueError, match="space or a control character"):
            post(f"http://127.0.0.1:{r.port}/a b", b"{}", HEADERS)
        with pytest.raises(ValueError, match="not an http"):
            post("ftp://127.0.0.1/x", b"{}", HEADERS)
        assert r.requests == []
    finally:
        r.close()


def test_https_receiver(post: KeepAlivePost, tmp_path: Path) -> None:
    """An https:// notification URL: TLS to the receiver, its certificate checked, kept alive."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)
    r = Receiver(lambda n, req: framed(ACK), tls=server_side)
    url = f"https://127.0.0.1:{r.port}/notify"
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            post(url, b"{}", HEADERS)  # not a certificate the system trusts
        post._tls = ssl.create_default_context(cafile=str(cert_file))
        assert post(url, b"{}", HEADERS).text == ACK.decode()
        assert post(url, b"{}", HEADERS).status == 200
        assert len(r.requests) == 2 and r.requests[0].startswith(b"POST /notify HTTP/1.1\r\n")
    finally:
        r.close()
