"""The key check run before a merchant public key is stored: says in plain words what is wrong.

Pure functions over the pasted text. A pasted private key is refused and never echoed: the
message names what it is, not what it contains.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..signing import public_key_b64

MIN_BITS = 2048


class KeyCheckError(ValueError):
    """The pasted text cannot be registered; the message says why (never the text itself)."""


@dataclass(frozen=True)
class CheckedKey:
    public_key: str  # Base64 X.509 SubjectPublicKeyInfo DER, one line: what the SDKs expect
    bits: int
    notes: list[str] = field(default_factory=list)


def _private_key_in(text: str, der: bytes | None) -> bool:
    if "PRIVATE KEY" in text.upper():
        return True
    if der is None:
        return False
    try:
        serialization.load_der_private_key(der, password=None)
        return True
    except (ValueError, TypeError):
        pass
    try:
        pem = (
            b"-----BEGIN RSA PRIVATE KEY-----\n"
            + base64.encodebytes(der)
            + b"-----END RSA PRIVATE KEY-----\n"
        )
        serialization.load_pem_private_key(pem, password=None)
        return True
    except (ValueError, TypeError):
        return False


def check_public_key(text: str, *, alipay_public_keys: Iterable[str] = ()) -> CheckedKey:
    """Normalise a pasted merchant public key or raise ``KeyCheckError`` saying what is wrong."""
    stripped = text.strip()
    if not stripped:
        raise KeyCheckError("the public key is empty: paste the public key of your merchant key pair")
    notes: list[str] = []
    der: bytes | None = None
    key: object = None
    if stripped.startswith("-----"):
        if "PRIVATE KEY" in stripped.upper():
            raise KeyCheckError(
                "this is a PRIVATE key: it was not stored. Keep it secret and paste the PUBLIC key of "
                "the pair instead"
            )
        try:
            key = serialization.load_pem_public_key(stripped.encode("ascii", errors="replace"))
        except (ValueError, TypeError) as exc:
            raise KeyCheckError(f"this PEM block is not a public key the gateway can use ({exc})") from exc
        if "RSA PUBLIC KEY" in stripped.upper():
            notes.append("converted the PKCS#1 'RSA PUBLIC KEY' PEM to X.509 SubjectPublicKeyInfo Base64")
        else:
            notes.append("removed the PEM header, footer and line breaks")
    else:
        compact = "".join(stripped.split())
        if compact != stripped:
            notes.append("removed line breaks and spaces")
        try:
            der = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyCheckError(
                "this is not a key: expected Base64 (X.509 SubjectPublicKeyInfo) or a PEM public key"
            ) from exc
        if _private_key_in(stripped, der):
            raise KeyCheckError(
                "this is a PRIVATE key: it was not stored. Keep it secret and paste the PUBLIC key of "
                "the pair instead"
            )
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError):
            try:
                key = serialization.load_der_public_key(_spki_of_pkcs1(der))
                notes.append("converted a PKCS#1 RSA public key to X.509 SubjectPublicKeyInfo")
            except (ValueError, TypeError) as exc:
                raise KeyCheckError(
                    "this is not a key: the Base64 does not decode to an X.509 public key"
                ) from exc
    if _private_key_in(stripped, der):
        raise KeyCheckError("this is a PRIVATE key: it was not stored")
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyCheckError("this is not an RSA public key: the gateway signs with RSA-SHA256 only")
    if key.key_size < MIN_BITS:
        raise KeyCheckError(
            f"this RSA key has {key.key_size} bits; the gateway needs at least {MIN_BITS}: generate a new pair"
        )
    normalised = public_key_b64(key)
    if normalised in set(alipay_public_keys):
        raise KeyCheckError(
            "this is the Alipay public key (the one the emulator shows you to verify its answers), "
            "not yours: paste the public key of your own merchant key pair"
        )
    return CheckedKey(public_key=normalised, bits=key.key_size, notes=notes)


def _spki_of_pkcs1(der: bytes) -> bytes:
    """Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (via PEM, which cryptography reads)."""
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
