"""Signing against vectors produced independently by the official SDK's own signature_tool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.settings import bundled_fixtures
from emulator.signing import (
    SignatureMismatch,
    canonical_message,
    load_private_key,
    parse_signature_header,
    public_key_b64,
    sign,
    signature_header,
    verify,
)

from .support import ensure_sdk_venv

KEY_PEM = (bundled_fixtures() / "keys" / "TEST-ONLY-merchant-usd-private.pem").read_text()
BODY = '{\n   "paymentRequestId": "PR001",\n   "note": "caf\\u00e9 \u00e9"\n}'
PATH = "/ams/sandbox/api/v1/payments/inquiryPayment"
CLIENT = "SANDBOX_5Y00001"
TIME = "2026-11-26T04:22:19+00:00"

SDK_SCRIPT = """
import json, sys
from com.alipay.ams.api.tools.signature_tool import sign, verify
a = json.load(sys.stdin)
out = {"sdkSignature": sign("POST", a["path"], a["client"], a["time"], a["body"], a["key"])}
out["sdkVerifiesOurs"] = bool(verify("POST", a["path"], a["client"], a["time"], a["body"], a["ours"], a["pub"]))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return load_private_key(KEY_PEM)


def _message(body: str = BODY, path: str = PATH, client: str = CLIENT, time: str = TIME) -> bytes:
    return canonical_message(method="POST", path=path, client_id=client, time=time, body=body.encode())


def test_canonical_message_is_the_documented_string() -> None:
    assert _message(body="{}") == f"POST {PATH}\n{CLIENT}.{TIME}.{{}}".encode()


def test_sdk_vectors_verify_and_sdk_verifies_ours(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    ours = sign(_message(), key)
    payload = {
        "path": PATH,
        "client": CLIENT,
        "time": TIME,
        "body": BODY,
        "key": KEY_PEM,
        "ours": ours,
        "pub": public_key_b64(key.public_key()),
    }
    out = subprocess.run(
        [str(ensure_sdk_venv()), "-c", SDK_SCRIPT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["sdkVerifiesOurs"] is True
    # PKCS#1 v1.5 is deterministic: the SDK and the emulator produce the same bytes.
    assert result["sdkSignature"] == ours
    verify(_message(), result["sdkSignature"], key.public_key())


@pytest.mark.parametrize(
    "tampered",
    [
        {"body": BODY.replace("PR001", "PR002")},
        {"body": BODY + " "},
        {"path": "/ams/api/v1/payments/inquiryPayment"},
        {"time": "2026-11-26T04:22:20+00:00"},
        {"client": "SANDBOX_5Y00002"},
    ],
    ids=["body-byte", "body-trailing-space", "path", "time", "client-id"],
)
def test_one_changed_part_breaks_the_signature(key: rsa.RSAPrivateKey, tampered: dict[str, str]) -> None:
    sig = sign(_message(), key)
    with pytest.raises(SignatureMismatch):
        verify(_message(**tampered), sig, key.public_key())


def test_raw_base64_and_spaced_headers_are_tolerated(key: rsa.RSAPrivateKey) -> None:
    from urllib.parse import unquote_plus

    sig = sign(_message(), key)
    verify(_message(), unquote_plus(sig), key.public_key())
    parsed = parse_signature_header(f"algorithm=RSA256, keyVersion=2, signature={sig}")
    assert (parsed.algorithm, parsed.key_version, parsed.signature) == ("RSA256", "2", sig)
    assert signature_header(sig) == f"algorithm=RSA256,keyVersion=1,signature={sig}"
    with pytest.raises(SignatureMismatch):
        parse_signature_header("algorithm=RSA256,keyVersion=1,signature=")
    with pytest.raises(SignatureMismatch):
        verify(_message(), "%%%not-base64", key.public_key())


def _pem_of(numbers: rsa.RSAPrivateNumbers) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    return raw.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda n: rsa.RSAPrivateNumbers(n.p, n.q, n.d + 2, n.dmp1, n.dmq1, n.iqmp, n.public_numbers),
        lambda n: rsa.RSAPrivateNumbers(n.p, n.q, n.d, n.dmp1 + 2, n.dmq1, n.iqmp, n.public_numbers),
        lambda n: rsa.RSAPrivateNumbers(n.p, n.q, n.d, n.dmp1, n.dmq1, n.iqmp + 1, n.public_numbers),
        lambda n: rsa.RSAPrivateNumbers(
            n.p,
            n.q,
            n.d,
            n.dmp1,
            n.dmq1,
            n.iqmp,
            rsa.RSAPublicNumbers(n.public_numbers.e + 2, n.public_numbers.n),
        ),
    ],
    ids=["d", "dmp1", "iqmp", "exponent"],
)
def test_a_key_whose_numbers_do_not_belong_together_is_refused(key: rsa.RSAPrivateKey, spoil: object) -> None:
    from emulator.signing import KeyFormatError

    numbers = key.private_numbers()
    assert load_private_key(_pem_of(numbers)).private_numbers() == numbers
    with pytest.raises(KeyFormatError, match="do not belong together"):
        load_private_key(_pem_of(spoil(numbers)))  # type: ignore[operator]


def test_sign_is_the_form_url_encoded_base64_of_the_rsa_signature() -> None:
    """``sign`` escapes Base64 itself; it must equal ``quote_plus`` of it for every signature."""
    import base64
    from urllib.parse import quote_plus

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = load_private_key(KEY_PEM)
    escaped = set()
    for i in range(300):  # PKCS#1 v1.5 is deterministic: each message gives one known signature
        message = f"POST {PATH}\n{CLIENT}.{TIME}.{i}".encode()
        raw = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        ours = sign(message, key)
        assert ours == quote_plus(base64.b64encode(raw).decode("ascii"))
        escaped |= {c for c in ("%2B", "%2F", "%3D") if c in ours}
    assert escaped == {"%2B", "%2F", "%3D"}  # every escape was exercised


def test_form_decoded_is_unquote_plus() -> None:
    """The fast path of signature decoding gives what ``unquote_plus`` gives, for any text."""
    import random
    from urllib.parse import unquote_plus

    from emulator.signing import form_decoded

    rng = random.Random(15)
    alphabet = [
        "%",
        "2",
        "3",
        "B",
        "b",
        "F",
        "f",
        "D",
        "d",
        "+",
        "/",
        "=",
        "A",
        "5",
        " ",
        "%2B",
        "%3D",
        "%2f",
        "%25",
    ]
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert form_decoded(text) == unquote_plus(text), text
    signature = sign(b"message", load_private_key(KEY_PEM))
    assert form_decoded(signature) == unquote_plus(signature)
