"""Load and validate the sandbox definition (``sandbox.toml`` + test-only keys), fill gaps with Faker.

A broken fixture raises ``FixtureError`` naming the file and the field, at start-up.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from faker import Faker
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..amounts import MINOR_UNITS
from ..errors import CATALOGUE, status_of
from ..signing import KeyFormatError, load_private_key
from .errors import FixtureError as FixtureError  # its home before; tests import it here

Role = Literal["MERCHANT", "ACQUIRER", "ISV"]
Behaviour = Literal["normal", "insufficient_balance", "needs_verification", "frozen", "risk_reject"]
SCENARIOS = ("PaymentCode", "OrderCode", "EntryCode")
DEFINITION_FILE = "sandbox.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApplicationSpec(_Strict):
    role: Role
    test_currency: str
    private_key: str
    name: str | None = None
    client_id: str | None = Field(default=None, pattern=r"^SANDBOX_[A-Za-z0-9_]{4,56}$")
    customer_id: str | None = Field(default=None, pattern=r"^[0-9]{8,32}$")
    settlement_currency: str | None = None
    isv_customer_id: str | None = None
    test_merchant_customer_id: str | None = None
    test_token: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{48}$")
    notification_url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2048)

    @field_validator("test_currency", "settlement_currency")
    @classmethod
    def _known_currency(cls, v: str | None) -> str | None:
        if v is not None and v not in MINOR_UNITS:
            raise ValueError(f"unknown currency {v!r}")
        return v


class BuyerSpec(_Strict):
    behaviour: Behaviour
    balances: dict[str, str]
    login_id: str | None = None
    password: str | None = None

    @field_validator("balances")
    @classmethod
    def _minor_units(cls, v: dict[str, str]) -> dict[str, str]:
        for currency, value in v.items():
            if currency not in MINOR_UNITS:
                raise ValueError(f"unknown currency {currency!r}")
            if not value.isdigit():
                raise ValueError(f"{currency}: balance must be a minor-unit integer string")
        return v


TriggerAction = Literal["unknown_then_success", "timeout_then_success", "inquiry_unknown", "inquiry_timeout"]


class TriggerSpec(_Strict):
    """A sandbox rule keyed on a pay amount or a payment code (spec §5 legacy triggers)."""

    amount: str | None = Field(default=None, pattern=r"^[0-9]{1,16}$")
    payment_code: str | None = Field(default=None, pattern=r"^[0-9]{16,24}$")
    action: TriggerAction | None = None
    result: str | None = None

    @model_validator(mode="after")
    def _one_key_one_effect(self) -> TriggerSpec:
        if (self.amount is None) == (self.payment_code is None):
            raise ValueError("give exactly one of amount or payment_code")
        if (self.action is None) == (self.result is None):
            raise ValueError("give exactly one of action or result")
        if self.result is not None and (self.result not in CATALOGUE or status_of(self.result) != "F"):
            raise ValueError(f"result {self.result!r} is not a documented F result code")
        return self


class RegistrationOutcomeSpec(_Strict):
    """How the review of a matching registration ends (issue #16), keyed like the payment triggers.

    References match exactly; names match case-insensitively anywhere in the merchant's display
    or legal name, or the store's name.
    """

    reference_merchant_id: str | None = Field(default=None, min_length=1, max_length=64)
    reference_store_id: str | None = Field(default=None, min_length=1, max_length=64)
    merchant_name: str | None = Field(default=None, min_length=1, max_length=256)
    store_name: str | None = Field(default=None, min_length=1, max_length=256)
    outcome: Literal["APPROVED", "REJECTED"]
    reason: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_key(self) -> RegistrationOutcomeSpec:
        keys = (self.reference_merchant_id, self.reference_store_id, self.merchant_name, self.store_name)
        if sum(k is not None for k in keys) != 1:
            raise ValueError(
                "give exactly one of reference_merchant_id, reference_store_id, merchant_name, store_name"
            )
        if self.outcome == "REJECTED" and self.reason is None:
            raise ValueError("a REJECTED outcome needs a reason")
        if self.outcome == "APPROVED" and self.reason is not None:
            raise ValueError("only a REJECTED outcome carries a reason")
        return self

    def matches(
        self,
        *,
        reference_merchant_id: str,
        reference_store_id: str | None,
        merchant_names: tuple[str, ...],
        store_name: str | None,
    ) -> bool:
        if self.reference_merchant_id is not None:
            return self.reference_merchant_id == reference_merchant_id
        if self.reference_store_id is not None:
            return self.reference_store_id == reference_store_id
        if self.merchant_name is not None:
            return any(self.merchant_name.casefold() in n.casefold() for n in merchant_names)
        assert self.store_name is not None
        return store_name is not None and self.store_name.casefold() in store_name.casefold()


class DefinitionSpec(_Strict):
    seed: int = 0
    alipay_private_key: str
    # Issue #9: the live environment's Alipay key pair (launched applications); optional.
    alipay_live_private_key: str | None = None
    applications: list[ApplicationSpec] = Field(min_length=1)
    buyers: list[BuyerSpec] = Field(min_length=1)
    triggers: list[TriggerSpec] = Field(default_factory=list)
    registration_outcomes: list[RegistrationOutcomeSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Triggers:
    """Lookup of the trigger table: a payment code wins over an amount."""

    by_amount: dict[int, TriggerSpec] = field(default_factory=dict)
    by_code: dict[str, TriggerSpec] = field(default_factory=dict)

    def match(self, *, amount: int, payment_code: str | None) -> TriggerSpec | None:
        if payment_code is not None and payment_code in self.by_code:
            return self.by_code[payment_code]
        return self.by_amount.get(amount)


@dataclass(frozen=True)
class AppSeed:
    name: str
    role: Role
    client_id: str
    customer_id: str
    test_currency: str
    settlement_currency: str
    private_key: rsa.RSAPrivateKey
    sftp_username: str
    sftp_password: str
    isv_customer_id: str | None = None
    test_merchant_customer_id: str | None = None
    test_token: str | None = None
    notification_url: str | None = None


@dataclass(frozen=True)
class BuyerSeed:
    login_id: str
    password: str
    name: str
    psp_customer_id: str
    behaviour: Behaviour
    balances: dict[str, int]


@dataclass(frozen=True)
class SandboxDefinition:
    source: Path
    alipay_private_key: rsa.RSAPrivateKey
    applications: list[AppSeed]
    buyers: list[BuyerSeed]
    test_currencies: list[str] = field(default_factory=list)
    triggers: Triggers = field(default_factory=Triggers)
    # First match wins, in file order.
    registration_outcomes: tuple[RegistrationOutcomeSpec, ...] = ()
    alipay_live_private_key: rsa.RSAPrivateKey | None = None
    seed: int = 0


def load_definition(folder: Path) -> SandboxDefinition:
    path = folder / DEFINITION_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FixtureError(f"{path}: file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FixtureError(f"{path}: not valid TOML: {exc}") from exc
    try:
        spec = DefinitionSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FixtureError(f"{path}: {where}: {first['msg']}") from exc
    return _expand(spec, folder, path)


def _load_key(folder: Path, rel: str, *, source: Path, where: str) -> rsa.RSAPrivateKey:
    key_path = (folder / rel).resolve()
    try:
        return load_private_key(key_path.read_text(encoding="ascii"))
    except FileNotFoundError as exc:
        raise FixtureError(f"{source}: {where}: key file {key_path} not found") from exc
    except (KeyFormatError, UnicodeDecodeError) as exc:
        raise FixtureError(f"{source}: {where}: {key_path}: {exc}") from exc


# The Faker providers ``_expand`` calls (bothify, numerify and lexify come with every one).
# Faker() would load all of them (~0.1 s of every start); these draw the same values from the
# same seeded generator (tests/sandbox/test_fixtures.py compares). None: every provider.
FAKER_PROVIDERS: list[str] | None = [
    "faker.providers.company",
    "faker.providers.person",
    "faker.providers.misc",
]


def _expand(spec: DefinitionSpec, folder: Path, source: Path) -> SandboxDefinition:
    fake = Faker("en_US", providers=FAKER_PROVIDERS)
    fake.seed_instance(spec.seed)
    alipay_key = _load_key(folder, spec.alipay_private_key, source=source, where="alipay_private_key")
    live_key = (
        _load_key(folder, spec.alipay_live_private_key, source=source, where="alipay_live_private_key")
        if spec.alipay_live_private_key
        else None
    )
    apps: list[AppSeed] = []
    seen: set[str] = set()
    for i, a in enumerate(spec.applications):
        where = f"applications.{i}"
        client_id = a.client_id or "SANDBOX_" + fake.bothify(
            "5Y##??####??####", letters="ABCDEFGHJKMNPQRSTUVWXYZ"
        )
        if client_id in seen:
            raise FixtureError(f"{source}: {where}.client_id: duplicate client ID {client_id}")
        seen.add(client_id)
        customer_id = a.customer_id or fake.numerify("10221880########")
        isv_fields: dict[str, str | None] = {}
        if a.role == "ISV":
            isv_fields = {
                "isv_customer_id": a.isv_customer_id or fake.numerify("10221881########"),
                "test_merchant_customer_id": a.test_merchant_customer_id or fake.numerify("10221882########"),
                "test_token": a.test_token
                or fake.lexify(
                    "?" * 48,
                    letters="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789",
                ),
            }
        apps.append(
            AppSeed(
                name=a.name or f"{fake.company()} ({a.role.lower()}, {a.test_currency})",
                role=a.role,
                client_id=client_id,
                customer_id=customer_id,
                test_currency=a.test_currency,
                settlement_currency=a.settlement_currency or a.test_currency,
                private_key=_load_key(folder, a.private_key, source=source, where=f"{where}.private_key"),
                sftp_username=f"sftp_{customer_id}",
                sftp_password=fake.password(length=16, special_chars=False),
                notification_url=a.notification_url,
                **isv_fields,
            )
        )
    currencies = sorted({a.test_currency for a in apps})
    buyers: list[BuyerSeed] = []
    logins: set[str] = set()
    for i, b in enumerate(spec.buyers):
        where = f"buyers.{i}"
        missing = [c for c in currencies if c not in b.balances]
        if missing:
            raise FixtureError(
                f"{source}: {where}.balances: no balance in test currency {', '.join(missing)}"
            )
        first, last = fake.first_name(), fake.last_name()
        login = (
            b.login_id or f"{first.lower()}.{last.lower()}.{b.behaviour.replace('_', '-')}@sandbox.example"
        )
        if login in logins:
            raise FixtureError(f"{source}: {where}.login_id: duplicate login {login}")
        logins.add(login)
        buyers.append(
            BuyerSeed(
                login_id=login,
                password=b.password or fake.password(length=12, special_chars=False),
                name=f"{first} {last}",
                psp_customer_id=fake.numerify("2088############"),
                behaviour=b.behaviour,
                balances={c: int(v) for c, v in b.balances.items()},
            )
        )
    return SandboxDefinition(
        source=source,
        alipay_private_key=alipay_key,
        applications=apps,
        buyers=buyers,
        test_currencies=currencies,
        triggers=Triggers(
            by_amount={int(t.amount): t for t in spec.triggers if t.amount is not None},
            by_code={t.payment_code: t for t in spec.triggers if t.payment_code is not None},
        ),
        registration_outcomes=tuple(spec.registration_outcomes),
        alipay_live_private_key=live_key,
        seed=spec.seed,
    )
