"""A local CA and a server certificate in the data directory, generated once and reused.

The Python SDK 1.7.1 verifies certificates against the default trust store, so clients trust
``ca.pem`` via ``SSL_CERT_FILE`` (spec §8 item 1).

With a database URL (the running emulator) the CA and the server certificate live in the
database (``identity``), so every process of one sandbox serves the same ones whatever its data
directory; the files in the data directory are copies. A user's own CA (``ca_cert_file`` /
``ca_key_file``: ``ALIPAY_EMULATOR_TLS_CA_CERT`` / ``_TLS_CA_KEY``) replaces the generated one:
it is read from those files, never stored.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import identity
from .settings import Settings

CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1", "alipay-emulator")


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    if private:
        os.chmod(tmp, 0o600)
    tmp.replace(path)


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
        str(n) for n in san.get_values_for_type(x509.IPAddress)
    }


def _new_ca(now: datetime) -> tuple[x509.Certificate, CaKey]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alipay-emulator local CA (test only)")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_cert, ca_key


def _load_key(pem: bytes, where: str) -> CaKey:
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{where}: the CA key must be an EC or RSA private key")
    return loaded


def _pair_pem(cert: x509.Certificate, key: CaKey) -> str:
    return json.dumps(
        {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(), "key": _any_key_pem(key).decode()}
    )


def _any_key_pem(key: CaKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pair(value: str) -> tuple[x509.Certificate, CaKey]:
    data = json.loads(value)
    return x509.load_pem_x509_certificate(data["cert"].encode()), _load_key(data["key"].encode(), "stored")


def user_ca(cert_file: Path | None, key_file: Path | None) -> tuple[x509.Certificate, CaKey] | None:
    """The CA a user supplies (``ALIPAY_EMULATOR_TLS_CA_CERT`` and ``_TLS_CA_KEY``), checked."""
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        raise ValueError("ALIPAY_EMULATOR_TLS_CA_CERT and ALIPAY_EMULATOR_TLS_CA_KEY go together: set both")
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"ALIPAY_EMULATOR_TLS_CA_CERT: cannot read a PEM certificate from {cert_file}"
        ) from exc
    try:
        key = _load_key(key_file.read_bytes(), "ALIPAY_EMULATOR_TLS_CA_KEY")
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(
            f"ALIPAY_EMULATOR_TLS_CA_KEY: cannot read an unencrypted PEM key from {key_file}"
        ) from exc
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise ValueError("ALIPAY_EMULATOR_TLS_CA_KEY is not the key of ALIPAY_EMULATOR_TLS_CA_CERT")
    return cert, key


def ensure_tls(
    data_dir: Path,
    extra_hostnames: list[str],
    *,
    now: datetime | None = None,
    database_url: str | None = None,
    ca_cert_file: Path | None = None,
    ca_key_file: Path | None = None,
) -> TlsFiles:
    """The CA (the user's, the shared one, or made once) and a server certificate it issued.

    The server certificate is (re)issued when names are missing, it nears expiry, or the CA
    changed; with a database every process then serves the one stored there.
    """
    now = now or datetime.now(UTC)  # real time: certificates are checked against real clocks
    folder = data_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    ca_key_path = folder / "ca-key.pem"

    def local_ca() -> tuple[x509.Certificate, CaKey]:
        if files.ca_cert.exists() and ca_key_path.exists():
            return (
                x509.load_pem_x509_certificate(files.ca_cert.read_bytes()),
                _load_key(ca_key_path.read_bytes(), str(ca_key_path)),
            )
        return _new_ca(now)

    supplied = user_ca(ca_cert_file, ca_key_file)
    if supplied is not None:
        ca_cert, ca_key = supplied
    elif database_url is not None:
        ca_cert, ca_key = _pair(identity.shared(database_url, "tls-ca", lambda: _pair_pem(*local_ca())))
    else:
        ca_cert, ca_key = local_ca()
    if supplied is None:
        _write_if_changed(ca_key_path, _any_key_pem(ca_key), private=True)
    _write_if_changed(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))

    wanted = list(dict.fromkeys([*DEFAULT_HOSTNAMES, *extra_hostnames]))

    def usable(cert: x509.Certificate) -> bool:
        fresh = cert.not_valid_after_utc > now + timedelta(days=30)
        return fresh and set(wanted) <= _cert_names(cert) and cert.issuer == ca_cert.subject

    if database_url is not None:
        cert, key = _pair(
            identity.shared(
                database_url,
                "tls-server",
                lambda: _pair_pem(*_issue(ca_cert, ca_key, wanted, now)),
                valid=lambda value: usable(_pair(value)[0]),
            )
        )
    elif (
        files.cert.exists()
        and files.key.exists()
        and usable(x509.load_pem_x509_certificate(files.cert.read_bytes()))
    ):
        return files
    else:
        cert, key = _issue(ca_cert, ca_key, wanted, now)
    _write_if_changed(files.key, _any_key_pem(key), private=True)
    _write_if_changed(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def _write_if_changed(path: Path, data: bytes, *, private: bool = False) -> None:
    if not path.exists() or path.read_bytes() != data:
        _write(path, data, private=private)


def _issue(
    ca_cert: x509.Certificate, ca_key: CaKey, names: list[str], now: datetime
) -> tuple[x509.Certificate, CaKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def tls_files(settings: Settings) -> TlsFiles:
    """``ensure_tls`` as the settings say: shared through the database, the user's CA if given."""
    return ensure_tls(
        settings.data_dir,
        settings.extra_tls_hostnames,
        database_url=settings.resolved_database_url,
        ca_cert_file=settings.tls_ca_cert,
        ca_key_file=settings.tls_ca_key,
    )
