"""Pure signing: the string-to-sign, RSA-SHA256 sign/verify, signature headers, key loading.

No I/O and no clock: callers pass the time string they put (or found) in the header.
Spec §2.3-2.6.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class SignatureMismatch(Exception):
    """The signature does not verify (or cannot even be decoded)."""


class KeyFormatError(ValueError):
    """A key that is neither PEM nor base64 DER of a supported RSA structure."""


def canonical_message(*, method: str, path: str, client_id: str, time: str, body: bytes) -> bytes:
    """``<METHOD> <path>\\n<client-id>.<time>.<body>`` over the exact body bytes (spec §2.4).

    The body is never re-serialised: the Python SDK signs an indent-3 pretty-printed body,
    the Java SDK a compact one.
    """
    head = f"{method} {path}\n{client_id}.{time}.".encode()
    return head + body


# The escapes URL-encoded Base64 holds ('+', '/' and '='), as every SDK writes them.
_BASE64_ESCAPES = (("%2B", "+"), ("%2F", "/"), ("%3D", "="))


def sign(message: bytes, key: rsa.RSAPrivateKey) -> str:
    """RSA-SHA256/PKCS#1 v1.5, Base64, then form-URL-encoded, as every SDK expects."""
    raw = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    # quote_plus of Base64, whose only characters to escape are these three (20x cheaper).
    text = base64.b64encode(raw).decode("ascii")
    for escape, char in _BASE64_ESCAPES:
        text = text.replace(char, escape)
    return text


def verify(message: bytes, signature_value: str, key: rsa.RSAPublicKey) -> None:
    """Raise ``SignatureMismatch`` unless ``signature_value`` signs ``message``.

    Tolerant of the variants seen on the wire (spec §8 item 6): URL-encoded Base64 (all SDKs)
    and raw Base64 (a value with no ``%``; a raw ``+`` is then kept, not read as a space).
    """
    for candidate in _decodings(signature_value):
        try:
            key.verify(candidate, message, padding.PKCS1v15(), hashes.SHA256())
            return
        except _CryptoInvalidSignature:
            continue
    raise SignatureMismatch("the RSA-SHA256 signature does not verify")


def form_decoded(value: str) -> str:
    """``unquote_plus(value)``, about 3x cheaper for the usual URL-encoded Base64.

    Without a ``+``, and with every ``%`` the start of one of the Base64 escapes, decoding is
    those replacements (none of them makes a ``%``); anything else (lower-case hex digits
    too) goes to ``unquote_plus``.
    """
    if "+" not in value:
        text = value
        for escape, char in _BASE64_ESCAPES:
            text = text.replace(escape, char)
        if "%" not in text:
            return text
    return unquote_plus(value)


def _decodings(value: str) -> list[bytes]:
    texts = [form_decoded(value)]
    if "%" not in value:
        texts.append(value)
    out: list[bytes] = []
    for text in texts:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            continue
        if raw and raw not in out:
            out.append(raw)
    return out


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    algorithm: str
    key_version: str
    signature: str


def parse_signature_header(value: str) -> SignatureHeader:
    """Parse ``algorithm=RSA256,keyVersion=1,signature=...`` (spaces after commas allowed).

    The signature value itself never contains a literal ``,``; it may contain ``=`` when a
    client sent raw Base64, so everything after ``signature=`` is taken as is.
    """
    fields: dict[str, str] = {}
    rest = value
    marker = rest.find("signature=")
    if marker >= 0:
        fields["signature"] = rest[marker + len("signature=") :].strip()
        rest = rest[:marker]
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name.strip()] = val.strip()
    if not fields.get("signature"):
        raise SignatureMismatch("the signature header carries no signature= value")
    return SignatureHeader(
        algorithm=fields.get("algorithm", "RSA256"),
        key_version=fields.get("keyVersion", "1") or "1",
        signature=fields["signature"],
    )


def signature_header(signature_value: str, key_version: str = "1") -> str:
    # Key order matters: Java takes the 3rd comma item, PHP the text after the last '='.
    return f"algorithm=RSA256,keyVersion={key_version},signature={signature_value}"


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """PEM (PKCS#1 or PKCS#8) or bare Base64 DER (PKCS#8 or PKCS#1).

    OpenSSL's own check of a loaded key tests both factors for primality, about 0.1 s a key
    (start-up loads six); ``check_private_key`` checks how the numbers relate instead, in
    microseconds, so a corrupt or mismatched key still fails here with ``KeyFormatError``.
    """
    data = text.strip().encode()
    try:
        if data.startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
        else:
            der = base64.b64decode(b"".join(data.split()), validate=True)
            try:
                key = serialization.load_der_private_key(
                    der, password=None, unsafe_skip_rsa_key_validation=True
                )
            except ValueError:
                pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(der)
                key = serialization.load_pem_private_key(
                    pem + b"-----END RSA PRIVATE KEY-----\n",
                    password=None,
                    unsafe_skip_rsa_key_validation=True,
                )
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyFormatError(f"not an RSA private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("not an RSA private key")
    check_private_key(key)
    return key


def check_private_key(key: rsa.RSAPrivateKey) -> None:
    """``KeyFormatError`` unless the key's numbers are a consistent RSA key.

    n = p * q, d * e = 1 modulo lcm(p - 1, q - 1), and the CRT values (d mod p - 1,
    d mod q - 1, q^-1 mod p) agree with them: OpenSSL's checks but the primality of p and q.
    """
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    if p < 3 or q < 3:
        raise KeyFormatError("not an RSA private key: its numbers do not belong together")
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    consistent = (
        p * q == n
        and 1 < e < n
        and e % 2 == 1
        and (d * e) % lam == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise KeyFormatError("not an RSA private key: its numbers do not belong together")


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Base64 SubjectPublicKeyInfo DER (what the SDKs take) or a PEM public key."""
    data = text.strip().encode()
    try:
        if data.startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            der = base64.b64decode(b"".join(data.split()), validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyFormatError(f"not an RSA public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("not an RSA public key")
    if key.key_size < 1024:
        raise KeyFormatError("RSA public key shorter than 1024 bits")
    return key


def public_key_b64(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def private_key_pkcs8_b64(key: rsa.RSAPrivateKey) -> str:
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode("ascii")


def private_key_pkcs1_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
