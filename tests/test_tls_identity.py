"""TLS identity: a user's own CA, and one CA and server certificate per database (issue #13)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulator.tls import _new_ca, ensure_tls


def _ca_files(folder: Path) -> tuple[Path, Path]:
    cert, key = _new_ca(datetime.now(UTC))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "my-ca.pem", folder / "my-ca-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_a_users_own_ca_issues_the_server_certificate(tmp_path: Path) -> None:
    cert_file, key_file = _ca_files(tmp_path / "mine")
    files = ensure_tls(tmp_path / "data", [], ca_cert_file=cert_file, ca_key_file=key_file)
    assert files.ca_cert.read_bytes() == cert_file.read_bytes()
    server = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert server.issuer == x509.load_pem_x509_certificate(cert_file.read_bytes()).subject
    assert not (tmp_path / "data" / "tls" / "ca-key.pem").exists()  # the user's key is not copied


def test_a_ca_and_a_key_that_do_not_match_are_refused_by_name(tmp_path: Path) -> None:
    cert_file, _ = _ca_files(tmp_path / "a")
    other = tmp_path / "other-key.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="ALIPAY_EMULATOR_TLS_CA_KEY is not the key"):
        ensure_tls(tmp_path / "data", [], ca_cert_file=cert_file, ca_key_file=other)
    with pytest.raises(ValueError, match="go together"):
        ensure_tls(tmp_path / "data", [], ca_cert_file=cert_file)


def test_two_data_directories_on_one_database_share_ca_and_server_certificate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = ensure_tls(tmp_path / "a", [], database_url=url)
    b = ensure_tls(tmp_path / "b", [], database_url=url)
    assert a.ca_cert.read_bytes() == b.ca_cert.read_bytes()
    assert a.cert.read_bytes() == b.cert.read_bytes()
    assert a.key.read_bytes() == b.key.read_bytes()
    # A name only one of them wants: a new certificate, stored for both, from the same CA.
    c = ensure_tls(tmp_path / "b", ["emulator.internal"], database_url=url)
    assert c.ca_cert.read_bytes() == a.ca_cert.read_bytes()
    san = x509.load_pem_x509_certificate(c.cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "emulator.internal" in san.value.get_values_for_type(x509.DNSName)
    assert ensure_tls(tmp_path / "a", [], database_url=url).cert.read_bytes() == c.cert.read_bytes()
