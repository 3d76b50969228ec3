"""Runtime settings: every option reads an ``ALIPAY_EMULATOR_*`` environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
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
    port: int = Field(default=8080, ge=1, le=65535)
    tls_port: int = Field(default=8443, ge=0, le=65535)
    sftp_port: int = Field(default=2222, ge=0, le=65535)
    data_dir: Path = Path(".alipay-emulator")
    database_url: str | None = None
    fixtures: Path | None = None
    admin_token: str | None = None
    # Extra DNS names / IPs for the generated server certificate, comma-separated.
    tls_hostnames: str = ""
    # URLs the emulator advertises (sandbox resources, wallet links); derived when unset. Set them
    # when clients reach it under another name or port (a container published as -p 443:8443).
    public_url: str | None = None
    public_https_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    # -- the first hour (issue #14): logs, start-up checks, notification URL boundaries ------
    # "json": one JSON object per log line, for log collectors.
    log_format: Literal["text", "json"] = "text"
    # Notification URLs at link-local or cloud-metadata addresses (169.254.0.0/16, fd00:ec2::254)
    # are refused at pay (PARAM_ILLEGAL) unless this is set.
    notify_allow_link_local: bool = False

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    # Scaling out (issue #13): your own CA for the HTTPS listener (PEM files; both or neither),
    # e.g. one already in the clients' trust store or baked into an image. Unset: a CA is made
    # once and kept in the database, shared by every process of the sandbox.
    tls_ca_cert: Path | None = None
    tls_ca_key: Path | None = None
    # `serve` runs this many processes on the same ports (SO_REUSEPORT: the kernel spreads the
    # connections) and the same database; each is a whole emulator. reuse_port is how the
    # supervisor tells its workers to bind that way.
    workers: int = Field(default=1, ge=1, le=64)
    reuse_port: bool = False
    # Threads that sign gateway answers off the event loop (RSA signing releases the GIL, issue
    # #15); unset: one per usable CPU beside the event loop's, up to 4, none (inline) on one CPU;
    # 0: always inline.
    signing_threads: int | None = Field(default=None, ge=0, le=64)

    # Spec §3.6 / §9 U6: cancellable until the end of the payment's GMT+8 day plus this grace.
    cancel_grace_minutes: int = Field(default=15, ge=0)
    # When set, a fixed cancel window (seconds after creation) replaces the calendar rule.
    cancel_window_seconds: int | None = Field(default=None, ge=0)
    # Spec §3.7 / §9 U7.
    refund_window_days: int = Field(default=365, ge=0)
    payment_code_ttl_seconds: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Notifications (spec §1.4): failure notifications are off for in-store by default (§9 U9).
    notify_failures: bool = False
    notify_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    notify_concurrency: int = Field(default=8, ge=1, le=64)
    # `serve` delivers notifications from a process of its own, off the gateway's critical path
    # (issue #15); false: the serving process delivers them itself, on its ticker.
    notify_process: bool = True
    # Order and entry codes without paymentExpiryTime expire after this (spec §3.3: ~3 minutes).
    order_code_ttl_seconds: int = Field(default=180, ge=1)
    # A payment waiting for the buyer's verification is declined after this (issue: 60 s).
    verification_timeout_seconds: int = Field(default=60, ge=1)
    # Legacy trigger 9901: the payment completes this long after the UNKNOWN_EXCEPTION answer.
    trigger_completion_seconds: int = Field(default=3, ge=0)
    # How long "no answer" holds a connection before closing it: past the SDKs' 15 s timeout.
    no_response_seconds: float = Field(default=20.0, ge=0)

    # Production fidelity (issue #12): the defaults behave like the real gateway; each of these
    # flags restores the lenient behaviour of earlier versions.
    # Spec §9 U2: authentication errors (CLIENT_INVALID, KEY_NOT_FOUND, INVALID_SIGNATURE) go
    # out unsigned, as production sends them; false signs them so every SDK shows the code.
    unsigned_auth_errors: bool = True
    # Spec §3.2-3.4: paymentNotifyUrl is required unless the application has a notification URL.
    notify_url_optional: bool = False
    # paymentRequestId / refundRequestId: ASCII letters, digits, - and _ unless this is true
    # (then any non-empty string without control characters).
    lenient_request_ids: bool = False
    # Datetime fields must be ISO 8601 with an offset; true checks only paymentExpiryTime.
    lenient_datetimes: bool = False
    # Merchant registration (issue #16, spec §4.7). A registration stays PENDING this long on the
    # emulator clock, then the review ends (APPROVED unless the fixtures or a control call say
    # otherwise) and notifyRegistrationStatus is sent.
    registration_review_seconds: int = Field(default=300, ge=0)
    # The PSPs whose per-wallet results inquiryRegistrationStatus and the notification list.
    registration_psps: str = "ALIPAY_CN"
    # When on, pay from an acquirer or ISV application answers MERCHANT_NOT_REGISTERED unless its
    # referenceMerchantId (and store) has an approved registration. Off: no change for existing users.
    registration_required: bool = False

    journal_enabled: bool = True
    journal_size: int = Field(default=1000, ge=1)

    # Reconciliation files (spec §6). Written automatically once the emulator clock passes the
    # day's cut-off (midnight GMT+8) plus this delay; spec §9 U15: early morning GMT+8.
    reconciliation_auto: bool = True
    reconciliation_delay_minutes: int = Field(default=120, ge=0, le=24 * 60)
    # Spec §9 U10: amounts in minor units, like the API's Amount.value; true for major units.
    reconciliation_major_units: bool = False
    # Spec §6.3: no file for a day without transactions, unless this writes header + <END>.
    reconciliation_empty_files: bool = False
    # Spec §6.5: settlement on T+N (by settlement date); weekends count as working days unless off.
    reconciliation_settlement_days: int = Field(default=1, ge=1, le=30)
    reconciliation_settle_weekends: bool = True
    # Spec §5: the sandbox's fixed fee per settled transaction, in the settlement currency's
    # minor units.
    reconciliation_fee: int = Field(default=10, ge=0)
    # Fixed quotes "BASE/QUOTE=price,..." (1 BASE = price QUOTE), used when an application's
    # settlement currency differs from the transaction currency.
    reconciliation_fx_quotes: str = (
        "USD/JPY=150.00,USD/SGD=1.3500,USD/HKD=7.8000,USD/CNY=7.2000,USD/KRW=1350.00,"
        "USD/EUR=0.9200,USD/GBP=0.7900"
    )
    reconciliation_acquirer: str = "Alipay_SG"

    @property
    def fixtures_dir(self) -> Path:
        return self.fixtures if self.fixtures is not None else bundled_fixtures()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'emulator.db').resolve()}"

    @property
    def registration_psp_names(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.registration_psps.split(",") if p.strip())

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
        if self.public_https_url:
            return self.public_https_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"https://{host}" if self.tls_port == 443 else f"https://{host}:{self.tls_port}"
