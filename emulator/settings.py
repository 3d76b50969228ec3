"""Runtime settings: every option reads an ``ALIPAY_EMULATOR_*`` environment variable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def bundled_fixtures() -> Path:
    """The sandbox definition shipped with the package (wheel) or the repository (checkout)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_fixtures"
    return packaged if packaged.is_dir() else here.parent / "fixtures"


class Settings(BaseSettings):
    """Configuration of one emulator process; see the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="ALIPAY_EMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    tls_port: int = 8443
    sftp_port: int = 2222
    data_dir: Path = Path(".alipay-emulator")
    database_url: str | None = None
    fixtures: Path | None = None
    admin_token: str | None = None
    # Extra DNS names / IPs for the generated server certificate, comma-separated.
    tls_hostnames: str = ""
    # URL prefix the emulator advertises (sandbox resources, wallet links); derived when unset.
    public_url: str | None = None
    log_level: str = "info"

    # Spec §9 U2: the real gateway probably answers INVALID_SIGNATURE / KEY_NOT_FOUND unsigned.
    # Signed is the default because the Go SDK rejects unsigned replies (Appendix D).
    unsigned_auth_errors: bool = False
    # Spec §3.6 / §9 U6: cancellable until the end of the payment's GMT+8 day plus this grace.
    cancel_grace_minutes: int = Field(default=15, ge=0)
    # When set, a fixed cancel window (seconds after creation) replaces the calendar rule.
    cancel_window_seconds: int | None = Field(default=None, ge=0)
    # Spec §3.7 / §9 U7.
    refund_window_days: int = Field(default=365, ge=0)
    payment_code_ttl_seconds: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    journal_enabled: bool = True
    journal_size: int = Field(default=1000, ge=1)

    @property
    def fixtures_dir(self) -> Path:
        return self.fixtures if self.fixtures is not None else bundled_fixtures()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'emulator.db').resolve()}"

    @property
    def extra_tls_hostnames(self) -> list[str]:
        return [h.strip() for h in self.tls_hostnames.split(",") if h.strip()]

    def http_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def https_url(self) -> str | None:
        if not self.tls_port:
            return None
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"https://{host}" if self.tls_port == 443 else f"https://{host}:{self.tls_port}"
