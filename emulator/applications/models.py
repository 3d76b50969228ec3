"""Developer Center data beside the sandbox's ``Application`` row: profile, live environment, developer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

ORIGIN_SEED = "seed"
ORIGIN_RUNTIME = "runtime"


class ApplicationProfile(SQLModel, table=True):
    """What the developer center knows of an application besides its sandbox resources.

    Seeded applications get a row the first time something here changes (e.g. a launch);
    applications created at runtime get one at creation, with their generated TEST-ONLY key pair.
    """

    client_id: str = Field(primary_key=True, max_length=64)
    origin: str = Field(default=ORIGIN_SEED, max_length=16)
    app_type: str = Field(default="POS terminal", max_length=32)
    region: str = Field(default="SG", max_length=2)
    description: str = ""
    created_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # TEST-ONLY private key (PKCS#1 PEM) generated for an application created at runtime.
    private_key_pem: str | None = None
    buyer_login_id: str | None = Field(default=None, max_length=128)
    test_token: str | None = Field(default=None, max_length=128)
    # The live environment (issue #9 item 3).
    production_client_id: str | None = Field(default=None, index=True, unique=True, max_length=64)
    live_public_key: str | None = None
    launched_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    forced_launch: bool = False
    forced_reasons: str | None = None
    # Changes after launch wait for an explicit confirmation (the seed's "email verification").
    pending_live_public_key: str | None = None
    pending_notification_url: str | None = None
    pending_notification_set: bool = False


class Developer(SQLModel, table=True):
    """The one developer of this sandbox: the role chosen on first use ("become a developer")."""

    id: int = Field(default=1, primary_key=True)
    role: str = Field(max_length=16)
    joined_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
