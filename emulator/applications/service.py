"""The application lifecycle of the Developer Center: create, read, update, delete, keys, launch, ISV authorizations.

No HTTP here: the control API, the pages and the CLI call these methods. Refusals raise
``ControlError`` with a 4xx status and a message that starts with the field it is about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from faker.providers.address import Provider as _AddressProvider
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from ..amounts import MINOR_UNITS
from ..clock import Clock, iso
from ..control.reset import reset_application
from ..errors import ControlError
from ..payments.models import Payment
from ..sandbox import service as sandbox
from ..sandbox.directory import Directory
from ..sandbox.fixtures import SCENARIOS, SandboxDefinition
from ..sandbox.models import AgentToken, Application, Balance, Buyer, MerchantKey, buyer_owner, merchant_owner
from ..settings import Settings
from ..signing import load_private_key, private_key_pkcs1_pem, public_key_b64
from ..storage import Database, next_sequence
from ..wallet.models import PaymentCode
from . import store
from .keycheck import KeyCheckError, check_public_key
from .kinds import APPLICATION_TYPES, ROLES
from .models import ORIGIN_RUNTIME, ORIGIN_SEED, ApplicationProfile, Developer

PRODUCTS: dict[str, tuple[str, ...]] = {"IN_STORE_PAYMENT": SCENARIOS}
REGIONS: tuple[str, ...] = tuple(sorted(_AddressProvider.alpha_2_country_codes))
IMMUTABLE = {"role": "role", "region": "region", "product": "product", "testCurrency": "test currency"}
_ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
_UPPER = "ABCDEFGHJKMNPQRSTUVWXYZ0123456789"
_NAME_MAX = 128
_DESCRIPTION_MAX = 2000


def generate_key_pair() -> rsa.RSAPrivateKey:
    """A fresh TEST-ONLY 2048-bit merchant key pair."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class NewApplication:
    role: str
    name: str
    type: str
    region: str
    description: str
    product: str
    scenarios: Sequence[str]
    test_currency: str
    notification_url: str | None = None


def _refuse(status: int, message: str) -> ControlError:
    return ControlError(status, message)


def check_url(value: str | None, *, name: str = "notificationUrl") -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(value) > 2048:
        raise _refuse(
            422, f"{name}: must be an http:// or https:// URL with a host (at most 2048 characters)"
        )
    return value


def _check_new(spec: NewApplication) -> NewApplication:
    if spec.role not in ROLES:
        raise _refuse(422, f"role: must be one of {', '.join(ROLES)}")
    name = spec.name.strip()
    if not name or len(name) > _NAME_MAX:
        raise _refuse(422, f"name: give the application a name of 1 to {_NAME_MAX} characters")
    if spec.type not in APPLICATION_TYPES:
        raise _refuse(422, f"type: must be one of {', '.join(APPLICATION_TYPES)}")
    region = spec.region.strip().upper()
    if region not in REGIONS:
        raise _refuse(422, "region: must be an ISO 3166 alpha-2 country/region code, such as SG or US")
    if len(spec.description) > _DESCRIPTION_MAX:
        raise _refuse(422, f"description: at most {_DESCRIPTION_MAX} characters")
    if spec.product not in PRODUCTS:
        raise _refuse(
            422,
            f"product: only IN_STORE_PAYMENT is emulated ({spec.product!r} is not): "
            "the emulator covers the in-store payment API family only",
        )
    scenarios = _check_scenarios(spec.product, spec.scenarios)
    if spec.test_currency not in MINOR_UNITS:
        raise _refuse(
            422,
            f"testCurrency: {spec.test_currency!r} is not a currency the emulator supports "
            f"({', '.join(sorted(MINOR_UNITS))})",
        )
    return NewApplication(
        role=spec.role,
        name=name,
        type=spec.type,
        region=region,
        description=spec.description.strip(),
        product=spec.product,
        scenarios=scenarios,
        test_currency=spec.test_currency,
        notification_url=check_url(spec.notification_url),
    )


def _check_scenarios(product: str, scenarios: Sequence[str]) -> list[str]:
    allowed = PRODUCTS[product]
    chosen = [s for s in allowed if s in set(scenarios)]
    unknown = [s for s in scenarios if s not in allowed]
    if unknown:
        raise _refuse(
            422, f"scenarios: {', '.join(unknown)} not a scenario of {product} ({', '.join(allowed)})"
        )
    if not chosen:
        raise _refuse(422, f"scenarios: choose one or more of {', '.join(allowed)}")
    return chosen


def _code(text: str, length: int, alphabet: str) -> str:
    """Deterministic characters from a text (house rule 4: no random source)."""
    number = int.from_bytes(hashlib.sha512(text.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, rem = divmod(number, len(alphabet))
        chars.append(alphabet[rem])
    return "".join(chars)


@dataclass
class ApplicationService:
    db: Database
    clock: Clock
    directory: Directory
    definition: SandboxDefinition
    settings: Settings
    launch_checks: Sequence[Callable[[str], list[str]]] = field(default_factory=list)
    keygen: Callable[[], rsa.RSAPrivateKey] = generate_key_pair

    # -- the developer ----------------------------------------------------------------------

    def developer(self) -> dict[str, Any] | None:
        with self.db.read() as session:
            dev = session.get(Developer, 1)
        return {"role": dev.role, "joinedAt": iso(dev.joined_at)} if dev else None

    def become_developer(self, role: str) -> dict[str, Any]:
        if role not in ROLES:
            raise _refuse(422, f"role: must be one of {', '.join(ROLES)}")
        with self.db.write() as session:
            dev = session.get(Developer, 1) or Developer(id=1, role=role, joined_at=self.clock.now())
            dev.role = role
            session.add(dev)
        view = self.developer()
        assert view is not None
        return view

    # -- lifecycle --------------------------------------------------------------------------

    def check_info(self, *, role: str, name: str, type: str, region: str, description: str) -> None:
        """The wizard's application-info step: the same rules as ``create``, before product choice."""
        _check_new(
            NewApplication(
                role=role,
                name=name,
                type=type,
                region=region,
                description=description,
                product="IN_STORE_PAYMENT",
                scenarios=list(SCENARIOS),
                test_currency="USD",
            )
        )

    def create(self, spec: NewApplication) -> dict[str, Any]:
        spec = _check_new(spec)
        key = self.keygen()
        now = self.clock.now()
        with self.db.write() as session:
            client_id, customer_id, seq = self._allocate(session)
            isv: dict[str, str | None] = {"isv_customer_id": None, "test_merchant_customer_id": None}
            token = None
            if spec.role == "ISV":
                isv = {
                    "isv_customer_id": f"10221884{seq:08d}",
                    "test_merchant_customer_id": f"10221885{seq:08d}",
                }
                token = _code(f"{self.definition.seed}|{client_id}|test-token", 48, _ALPHANUM)
            app = Application(
                client_id=client_id,
                name=spec.name,
                role=spec.role,
                customer_id=customer_id,
                test_currency=spec.test_currency,
                settlement_currency=spec.test_currency,
                product=spec.product,
                scenarios=",".join(spec.scenarios),
                sftp_username=f"sftp_{customer_id}",
                sftp_password=_code(f"{self.definition.seed}|{client_id}|sftp", 16, _ALPHANUM),
                notification_url=spec.notification_url,
                **isv,
            )
            session.add(app)
            session.add(
                MerchantKey(client_id=client_id, key_version="1", public_key=public_key_b64(key.public_key()))
            )
            login = f"buyer.{customer_id}@sandbox.example"
            session.add(
                Buyer(
                    login_id=login,
                    password=_code(f"{self.definition.seed}|{login}|password", 12, _ALPHANUM),
                    name=f"Sandbox Buyer {seq}",
                    psp_customer_id=f"2089{seq:012d}",
                    behaviour="normal",
                )
            )
            session.add(
                ApplicationProfile(
                    client_id=client_id,
                    origin=ORIGIN_RUNTIME,
                    app_type=spec.type,
                    region=spec.region,
                    description=spec.description,
                    created_at=now,
                    private_key_pem=private_key_pkcs1_pem(key),
                    buyer_login_id=login,
                    test_token=token,
                )
            )
            if token and app.test_merchant_customer_id:
                session.add(
                    AgentToken(
                        token=token,
                        isv_client_id=client_id,
                        merchant_customer_id=app.test_merchant_customer_id,
                        issued_at=now,
                    )
                )
            session.flush()
            store.provision_balances(session, app)
        self.directory.invalidate()
        return self.get(client_id)

    def _allocate(self, session: Session) -> tuple[str, str, int]:
        # Sequences restart at a full reset while runtime applications stay: skip taken ids.
        for _ in range(10_000):
            seq = next_sequence(session, "application")
            client_id = "SANDBOX_" + _code(f"{self.definition.seed}|application|{seq}", 16, _UPPER)
            customer_id = f"10221883{seq:08d}"
            taken = session.get(Application, client_id) is not None or (
                session.exec(select(Application).where(Application.customer_id == customer_id)).first()
                is not None
            )
            if not taken:
                return client_id, customer_id, seq
        raise _refuse(409, "no free client ID left")

    def all(self) -> list[dict[str, Any]]:
        with self.db.read() as session:
            ids = [r["clientId"] for r in self._resources(session)["applications"]]
            return [self._view(session, self._require(session, cid)) for cid in ids]

    def get(self, client_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            return self._view(session, self._require(session, client_id))

    def update(self, client_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        for name, label in IMMUTABLE.items():
            if name in changes:
                raise _refuse(
                    422,
                    f"{name}: the {label} cannot be changed after creation: create another application",
                )
        with self.db.write() as session:
            app = self._require(session, client_id)
            profile = self._profile(session, app.client_id)
            if "name" in changes:
                name = str(changes["name"] or "").strip()
                if not name or len(name) > _NAME_MAX:
                    raise _refuse(422, f"name: give the application a name of 1 to {_NAME_MAX} characters")
                app.name = name
            if "type" in changes:
                if changes["type"] not in APPLICATION_TYPES:
                    raise _refuse(422, f"type: must be one of {', '.join(APPLICATION_TYPES)}")
                profile.app_type = changes["type"]
            if "description" in changes:
                text = str(changes["description"] or "")
                if len(text) > _DESCRIPTION_MAX:
                    raise _refuse(422, f"description: at most {_DESCRIPTION_MAX} characters")
                profile.description = text.strip()
            if "scenarios" in changes:
                app.scenarios = ",".join(_check_scenarios(app.product, list(changes["scenarios"] or [])))
            if "notificationUrl" in changes:
                url = check_url(changes["notificationUrl"])
                if profile.launched_at is not None:
                    profile.pending_notification_url = url
                    profile.pending_notification_set = True
                else:
                    app.notification_url = url
            session.add(app)
            session.add(profile)
        self.directory.invalidate()
        return self.get(client_id)

    def delete(self, client_id: str) -> dict[str, Any]:
        with self.db.write() as session:
            app = self._require(session, client_id)
            profile = session.get(ApplicationProfile, app.client_id)
            if profile is None or profile.origin != ORIGIN_RUNTIME:
                raise _refuse(
                    409,
                    f"{app.client_id} is seeded from the sandbox fixtures: edit sandbox.toml to remove it "
                    "(only applications created at runtime can be deleted)",
                )
            reset_application(session, self.definition, app.client_id)
            ids = [app.client_id] + ([profile.production_client_id] if profile.production_client_id else [])
            session.execute(delete(MerchantKey).where(col(MerchantKey.client_id).in_(ids)))
            session.execute(delete(AgentToken).where(col(AgentToken.isv_client_id).in_(ids)))
            for p in session.exec(select(Payment).where(col(Payment.client_id).in_(ids))).all():
                session.delete(p)
            owners = [merchant_owner(c) for c in (app.customer_id, app.test_merchant_customer_id) if c]
            if profile.buyer_login_id:
                owners.append(buyer_owner(profile.buyer_login_id))
                buyer = session.get(Buyer, profile.buyer_login_id)
                if buyer is not None:
                    session.delete(buyer)
                session.execute(
                    delete(PaymentCode).where(col(PaymentCode.buyer_login_id) == profile.buyer_login_id)
                )
            session.execute(delete(Balance).where(col(Balance.owner).in_(owners)))
            session.delete(profile)
            session.delete(app)
        self.directory.invalidate()
        return {"clientId": client_id, "deleted": True}

    # -- keys -------------------------------------------------------------------------------

    def _alipay_public_keys(self) -> list[str]:
        keys = [public_key_b64(self.definition.alipay_private_key.public_key())]
        if self.definition.alipay_live_private_key is not None:
            keys.append(public_key_b64(self.definition.alipay_live_private_key.public_key()))
        return keys

    def _checked(self, text: str, field_name: str) -> tuple[str, list[str]]:
        try:
            checked = check_public_key(text, alipay_public_keys=self._alipay_public_keys())
        except KeyCheckError as exc:
            raise _refuse(422, f"{field_name}: {exc}") from exc
        return checked.public_key, checked.notes

    def upload_public_key(self, client_id: str, *, public_key: str, key_version: str = "1") -> dict[str, Any]:
        """Key check first; only a key that passes is stored (per key version)."""
        key_version = key_version.strip()
        if not key_version.isdigit() or len(key_version) > 8:
            raise _refuse(422, "keyVersion: must be a number of at most 8 digits")
        with self.db.read() as session:
            app = self._require(session, client_id)
        normalised, notes = self._checked(public_key, "publicKey")
        with self.db.write() as session:
            row = session.get(MerchantKey, (app.client_id, key_version)) or MerchantKey(
                client_id=app.client_id, key_version=key_version, public_key=normalised
            )
            row.public_key = normalised
            session.add(row)
        self.directory.invalidate()
        return {"clientId": app.client_id, "keyVersion": key_version, "publicKey": normalised, "notes": notes}

    def set_live_public_key(self, client_id: str, *, public_key: str) -> dict[str, Any]:
        with self.db.read() as session:
            self._require(session, client_id)
        normalised, notes = self._checked(public_key, "publicKey")
        with self.db.write() as session:
            app = self._require(session, client_id)
            profile = self._profile(session, app.client_id)
            if profile.launched_at is not None:
                profile.pending_live_public_key = normalised
            else:
                profile.live_public_key = normalised
            session.add(profile)
        view = self.get(client_id)
        view["notes"] = notes
        return view

    # -- go live ----------------------------------------------------------------------------

    def launch_reasons(self, client_id: str) -> list[str]:
        """Why the application may not launch yet (the acceptance gate and other checks)."""
        with self.db.read() as session:
            app = self._require(session, client_id)
        return [reason for check in self.launch_checks for reason in check(app.client_id)]

    def launch(self, client_id: str, *, force: bool = False) -> dict[str, Any]:
        with self.db.read() as session:
            app = self._require(session, client_id)
            profile = session.get(ApplicationProfile, app.client_id)
        if profile is not None and profile.launched_at is not None:
            raise _refuse(409, f"{app.client_id} is already launched as {profile.production_client_id}")
        if profile is None or not profile.live_public_key:
            raise _refuse(
                422,
                "livePublicKey: set the live public key on the Live tab before launching "
                "(the live environment has keys of its own)",
            )
        if self.definition.alipay_live_private_key is None:
            raise _refuse(409, "this sandbox definition has no alipay_live_private_key: nothing can launch")
        reasons = self.launch_reasons(app.client_id)
        if reasons and not force:
            raise _refuse(
                409,
                "cannot launch yet: " + "; ".join(reasons) + " (force launches without passing acceptance)",
            )
        now = self.clock.now()
        with self.db.write() as session:
            profile = self._profile(session, app.client_id)
            production = self._production_id(session, app.client_id)
            profile.production_client_id = production
            profile.launched_at = now
            profile.forced_launch = bool(reasons)
            profile.forced_reasons = "\n".join(reasons) if reasons else None
            session.add(profile)
            session.add(
                MerchantKey(client_id=production, key_version="1", public_key=profile.live_public_key or "")
            )
        self.directory.invalidate()
        return self.get(app.client_id)

    def _production_id(self, session: Session, client_id: str) -> str:
        for n in range(10_000):
            candidate = "5Y" + _code(f"{self.definition.seed}|{client_id}|production|{n}", 14, _UPPER)
            taken = session.get(Application, candidate) is not None or (
                session.exec(
                    select(ApplicationProfile).where(ApplicationProfile.production_client_id == candidate)
                ).first()
                is not None
            )
            if not taken:
                return candidate
        raise _refuse(409, "no free production client ID left")

    def confirm(self, client_id: str) -> dict[str, Any]:
        """Apply the changes waiting for confirmation after launch (the seed's email verification)."""
        with self.db.write() as session:
            app = self._require(session, client_id)
            profile = self._profile(session, app.client_id)
            if not profile.pending_live_public_key and not profile.pending_notification_set:
                raise _refuse(409, "nothing is waiting for confirmation")
            if profile.pending_live_public_key:
                profile.live_public_key = profile.pending_live_public_key
                profile.pending_live_public_key = None
                if profile.production_client_id:
                    row = session.get(MerchantKey, (profile.production_client_id, "1")) or MerchantKey(
                        client_id=profile.production_client_id, key_version="1", public_key=""
                    )
                    row.public_key = profile.live_public_key
                    session.add(row)
            if profile.pending_notification_set:
                app.notification_url = profile.pending_notification_url
                profile.pending_notification_url = None
                profile.pending_notification_set = False
                session.add(app)
            session.add(profile)
        self.directory.invalidate()
        return self.get(client_id)

    # -- ISV authorization ------------------------------------------------------------------

    def _launched_isv(self, session: Session, client_id: str) -> tuple[Application, ApplicationProfile]:
        app = self._require(session, client_id)
        if app.role != "ISV":
            raise _refuse(
                422, f"role: {app.client_id} is a {app.role} application; only an ISV is authorized"
            )
        profile = session.get(ApplicationProfile, app.client_id)
        if profile is None or profile.launched_at is None or not profile.production_client_id:
            raise _refuse(
                409, "launch the ISV application first: authorization URLs are for live applications"
            )
        return app, profile

    def authorization_url(self, client_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            _, profile = self._launched_isv(session, client_id)
        url = f"{self.settings.http_url()}/_emulator/isv/{profile.production_client_id}/authorize"
        return {"authorizationUrl": url, "isvClientId": profile.production_client_id}

    def merchants(self) -> list[dict[str, str]]:
        """Sandbox merchants that can sign in on an authorization page."""
        with self.db.read() as session:
            rows = session.exec(select(Application).where(Application.role != "ISV")).all()
            return [{"name": r.name, "customerId": r.customer_id} for r in rows]

    def authorize(self, client_id: str, *, merchant_account: str, password: str) -> dict[str, Any]:
        """A sandbox merchant signs in with its merchant account and authorizes the ISV.

        ``client_id`` is the ISV's production client ID (the flow of a launched application) or
        its sandbox client ID (the sandbox's own authorization page); the token works with it.
        """
        now = self.clock.now()
        with self.db.write() as session:
            isv = self._require(session, client_id)
            if isv.role != "ISV":
                raise _refuse(
                    422, f"role: {isv.client_id} is a {isv.role} application; only an ISV is authorized"
                )
            production = client_id if client_id in self._ids(session, isv) else isv.client_id
            merchant = None
            for row in session.exec(select(Application).where(Application.role != "ISV")).all():
                account = sandbox.merchant_account(self.definition, row)
                if account["loginId"] == merchant_account.strip() and account["password"] == password:
                    merchant = row
            if merchant is None:
                raise _refuse(
                    422,
                    "merchantAccount: no sandbox merchant has that account and password (see its resources)",
                )
            seq = next_sequence(session, "agent_token")
            token = AgentToken(
                token=_code(f"{production}|{merchant.client_id}|{seq}", 48, _ALPHANUM),
                isv_client_id=production,
                merchant_customer_id=merchant.customer_id,
                issued_at=now,
            )
            session.add(token)
            if session.get(Balance, (merchant_owner(merchant.customer_id), isv.test_currency)) is None:
                session.add(Balance(owner=merchant_owner(merchant.customer_id), currency=isv.test_currency))
            session.flush()
            view = self._token_view(session, token)
        self.directory.invalidate()
        return view

    def authorizations(self, client_id: str) -> list[dict[str, Any]]:
        with self.db.read() as session:
            app = self._require(session, client_id)
            return self._tokens(session, app)

    def revoke(self, client_id: str, token: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.write() as session:
            app = self._require(session, client_id)
            row = session.get(AgentToken, token)
            if row is None or row.isv_client_id not in self._ids(session, app):
                raise _refuse(404, f"no authorization token {token!r} of {app.client_id}")
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)
            session.flush()
            view = self._token_view(session, row)
        self.directory.invalidate()
        return view

    # -- views ------------------------------------------------------------------------------

    def _require(self, session: Session, client_id: str) -> Application:
        """By sandbox client ID or, for a launched application, by its production client ID."""
        app = session.get(Application, client_id)
        if app is None:
            profile = session.exec(
                select(ApplicationProfile).where(ApplicationProfile.production_client_id == client_id)
            ).first()
            if profile is not None:
                app = session.get(Application, profile.client_id)
        if app is None:
            raise _refuse(404, f"no application with client ID {client_id!r}")
        return app

    def _profile(self, session: Session, client_id: str) -> ApplicationProfile:
        return session.get(ApplicationProfile, client_id) or ApplicationProfile(
            client_id=client_id, origin=ORIGIN_SEED
        )

    def _ids(self, session: Session, app: Application) -> list[str]:
        profile = session.get(ApplicationProfile, app.client_id)
        return [app.client_id] + (
            [profile.production_client_id] if profile and profile.production_client_id else []
        )

    def _resources(self, session: Session) -> dict[str, Any]:
        return sandbox.resources(
            session, self.definition, self.settings, sftp_host="localhost", generated=store.generated(session)
        )

    def _token_view(self, session: Session, t: AgentToken) -> dict[str, Any]:
        merchant = session.exec(
            select(Application).where(Application.customer_id == t.merchant_customer_id)
        ).first()
        if merchant is not None:
            name = merchant.name
        else:
            isv = session.exec(
                select(Application).where(Application.test_merchant_customer_id == t.merchant_customer_id)
            ).first()
            name = f"Test merchant of {isv.name}" if isv else t.merchant_customer_id
        calls = session.exec(
            select(func.count()).select_from(Payment).where(Payment.agent_token == t.token)
        ).one()
        return {
            "agentToken": t.token,
            "isvClientId": t.isv_client_id,
            "merchantName": name,
            "merchantCustomerId": t.merchant_customer_id,
            "issuedAt": iso(t.issued_at),
            "revokedAt": iso(t.revoked_at) if t.revoked_at else None,
            "environment": "SANDBOX" if t.isv_client_id.startswith("SANDBOX_") else "LIVE",
            "payments": int(calls),
        }

    def _tokens(self, session: Session, app: Application) -> list[dict[str, Any]]:
        ids = self._ids(session, app)
        rows = session.exec(select(AgentToken).where(col(AgentToken.isv_client_id).in_(ids))).all()
        return [self._token_view(session, t) for t in sorted(rows, key=lambda t: (t.issued_at, t.token))]

    def _view(self, session: Session, app: Application) -> dict[str, Any]:
        profile = session.get(ApplicationProfile, app.client_id)
        p = profile or ApplicationProfile(client_id=app.client_id, origin=ORIGIN_SEED)
        pem = p.private_key_pem if p.origin == ORIGIN_RUNTIME else None
        buyer_login = p.buyer_login_id or next(
            (b.login_id for b in self.definition.buyers if b.behaviour == "normal"), None
        )
        buyer_row = session.get(Buyer, buyer_login) if buyer_login else None
        entry = sandbox.application_entry(
            session,
            self.definition,
            self.settings,
            app,
            private_key=sandbox.private_key_of(self.definition, app, pem),
            buyer={"loginId": buyer_row.login_id, "password": buyer_row.password} if buyer_row else None,
        )
        launched = p.launched_at is not None
        live_alipay = self.definition.alipay_live_private_key
        status = "IN_DEVELOPMENT"
        if launched:
            status = "LAUNCHED_WITHOUT_ACCEPTANCE" if p.forced_launch else "LAUNCHED"
        entry.update(
            {
                "type": p.app_type,
                "region": p.region,
                "description": p.description,
                "origin": p.origin,
                "createdAt": iso(p.created_at) if p.created_at else None,
                "notificationUrl": app.notification_url,
                "alipayPublicKey": public_key_b64(self.definition.alipay_private_key.public_key()),
                "environment": "LIVE" if launched else "SANDBOX",
                "status": status,
                "live": {
                    "productionClientId": p.production_client_id,
                    "publicKey": p.live_public_key,
                    "alipayPublicKey": public_key_b64(live_alipay.public_key()) if live_alipay else None,
                    "launchedAt": iso(p.launched_at) if p.launched_at else None,
                    "forced": p.forced_launch,
                    "forcedReasons": p.forced_reasons.split("\n") if p.forced_reasons else [],
                },
                "pendingConfirmation": (
                    {
                        **({"publicKey": p.pending_live_public_key} if p.pending_live_public_key else {}),
                        **(
                            {"notificationUrl": p.pending_notification_url}
                            if p.pending_notification_set
                            else {}
                        ),
                    }
                    if p.pending_live_public_key or p.pending_notification_set
                    else None
                ),
            }
        )
        if app.role == "ISV":
            tokens = self._tokens(session, app)
            entry["authorizationStatistics"] = {
                "total": len(tokens),
                "active": sum(1 for t in tokens if t["revokedAt"] is None),
                "revoked": sum(1 for t in tokens if t["revokedAt"] is not None),
                "payments": sum(t["payments"] for t in tokens),
            }
        return entry


def private_key_files(view: dict[str, Any]) -> dict[str, str]:
    """The TEST-ONLY key files of an application's resources, by file name (for the download)."""
    files: dict[str, str] = {}
    cid = view["clientId"]
    if view.get("merchantPrivateKeyPem"):
        files[f"TEST-ONLY-{cid}-merchant-private-pkcs1.pem"] = view["merchantPrivateKeyPem"]
        files[f"TEST-ONLY-{cid}-merchant-private-pkcs8.b64"] = view["merchantPrivateKey"] + "\n"
        key = load_private_key(view["merchantPrivateKeyPem"])
        files[f"TEST-ONLY-{cid}-merchant-public-spki.b64"] = public_key_b64(key.public_key()) + "\n"
    elif view.get("merchantPublicKey"):
        files[f"{cid}-merchant-public-spki.b64"] = view["merchantPublicKey"] + "\n"
    files[f"{cid}-alipay-public-spki.b64"] = view["alipayPublicKey"] + "\n"
    return files
