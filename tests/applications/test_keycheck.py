"""The key check: what people paste, normalised; every mistake named in plain words."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from emulator.applications.keycheck import KeyCheckError, check_public_key
from emulator.signing import private_key_pkcs1_pem, private_key_pkcs8_b64, public_key_b64


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_base64_spki_passes_unchanged(key: rsa.RSAPrivateKey) -> None:
    b64 = public_key_b64(key.public_key())
    checked = check_public_key(b64)
    assert checked.public_key == b64 and checked.bits == 2048 and checked.notes == []


def test_line_breaks_pem_and_pkcs1_are_normalised(key: rsa.RSAPrivateKey) -> None:
    b64 = public_key_b64(key.public_key())
    wrapped = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    assert check_public_key(wrapped).public_key == b64
    assert "line breaks" in check_public_key(wrapped).notes[0]
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert check_public_key(pem.decode()).public_key == b64
    pkcs1 = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    checked = check_public_key(pkcs1.decode())
    assert checked.public_key == b64 and "PKCS#1" in checked.notes[0]
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert check_public_key(base64.b64encode(der).decode()).public_key == b64


def test_private_keys_are_refused_without_echo(key: rsa.RSAPrivateKey) -> None:
    for text in (private_key_pkcs1_pem(key), private_key_pkcs8_b64(key)):
        with pytest.raises(KeyCheckError) as info:
            check_public_key(text)
        assert "PRIVATE key" in str(info.value) and "not stored" in str(info.value)
        assert text.strip()[40:80] not in str(info.value)


def test_alipay_key_short_key_and_garbage(key: rsa.RSAPrivateKey) -> None:
    b64 = public_key_b64(key.public_key())
    with pytest.raises(KeyCheckError, match="Alipay public key"):
        check_public_key(b64, alipay_public_keys=[b64])
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyCheckError, match="1024 bits"):
        check_public_key(public_key_b64(short.public_key()))
    with pytest.raises(KeyCheckError, match="not a key"):
        check_public_key("hello world, this is not a key!")
    with pytest.raises(KeyCheckError, match="empty"):
        check_public_key("  ")
    curve = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = curve.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyCheckError, match="not an RSA public key"):
        check_public_key(base64.b64encode(der).decode())
