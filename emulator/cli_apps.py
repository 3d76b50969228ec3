"""``alipay-emulator app create|list|show|delete|launch`` and ``keys generate`` (issue #9).

With ``--url`` (or ``ALIPAY_EMULATOR_URL``) the commands talk to a running emulator's control
API (with ``--admin-token`` / ``ALIPAY_EMULATOR_ADMIN_TOKEN``); without it they open the data
directory (``--data-dir``) and call the same service the API calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .applications.kinds import APPLICATION_TYPES, ROLES

LOCAL_NOTE = (
    "Without --url (or ALIPAY_EMULATOR_URL) it works on the data directory (--data-dir / "
    "ALIPAY_EMULATOR_DATA_DIR) directly; a running emulator on that directory sees the change within a second."
)


def add_parsers(sub: Any, add_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``app`` and ``keys`` to the main parser's subcommands."""
    app = sub.add_parser("app", help="Developer Center applications: create, list, show, delete, launch")
    actions = app.add_subparsers(dest="app_command", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(
            name, help=help_text, description=f"{help_text}. {LOCAL_NOTE}"
        )
        add_options(p)  # --url / --admin-token of a running emulator, or the data directory
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        return p

    create = action("create", "create an application with fresh sandbox resources")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="the application name")
    create.add_argument(
        "--type", default=APPLICATION_TYPES[0], choices=APPLICATION_TYPES, help="application type"
    )
    create.add_argument(
        "--region", default="SG", help="business registration country/region (ISO 3166 alpha-2)"
    )
    create.add_argument("--description", default="")
    create.add_argument("--product", default="IN_STORE_PAYMENT")
    create.add_argument(
        "--scenarios",
        default="PaymentCode,OrderCode,EntryCode",
        help="comma-separated: PaymentCode,OrderCode,EntryCode",
    )
    create.add_argument("--test-currency", required=True, help="one ISO 4217 test currency, e.g. USD")
    create.add_argument("--notification-url", default=None)
    action("list", "list the applications")
    for name, text in (
        ("show", "show one application's resources"),
        ("delete", "delete an application created at runtime"),
    ):
        action(name, text).add_argument("client_id", help="the client ID")
    launch = action("launch", "go live: set the live public key (if given) and launch")
    launch.add_argument("client_id", help="the sandbox client ID")
    launch.add_argument(
        "--public-key-file", type=Path, default=None, help="the live public key (Base64 or PEM)"
    )
    launch.add_argument("--force", action="store_true", help="launch without passing acceptance")

    keys = sub.add_parser("keys", help="TEST-ONLY RSA key pairs")
    key_actions = keys.add_subparsers(dest="keys_command", required=True)
    generate = key_actions.add_parser(
        "generate", help="a TEST-ONLY 2048-bit key pair: PKCS#1 PEM, PKCS#8 Base64 and SPKI Base64"
    )
    generate.add_argument(
        "--out", type=Path, default=None, help="also write the three files into this folder"
    )
    generate.add_argument("--json", action="store_true", help="print JSON instead of text")


class _Remote:
    def __init__(self, url: str, admin_token: str | None) -> None:
        from .testing import EmulatorClient

        self.client = EmulatorClient(url, admin_token=admin_token)

    def run(self, args: argparse.Namespace) -> Any:
        c = self.client
        try:
            if args.app_command == "create":
                return c.create_application(**_create_fields(args))
            if args.app_command == "list":
                return {"applications": c.applications()}
            if args.app_command == "show":
                return c.application(args.client_id)
            if args.app_command == "delete":
                return c.delete_application(args.client_id)
            if args.public_key_file is not None:
                c.set_live_public_key(args.client_id, _read(args.public_key_file))
            return c.launch(args.client_id, force=args.force)
        finally:
            c.close()


def _create_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "role": args.role,
        "name": args.name,
        "type": args.type,
        "region": args.region,
        "description": args.description,
        "product": args.product,
        "scenarios": [s.strip() for s in args.scenarios.split(",") if s.strip()],
        "test_currency": args.test_currency,
        "notification_url": args.notification_url,
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"--public-key-file: cannot read {path}: {exc.strerror}") from exc


class _UsageError(Exception):
    pass


def _local(args: argparse.Namespace, settings: Any) -> Any:
    from .app import wire
    from .applications.service import NewApplication
    from .runtime import build_runtime

    rt = wire(build_runtime(settings))
    try:
        apps = rt.applications()
        if args.app_command == "create":
            return apps.create(NewApplication(**_create_fields(args)))
        if args.app_command == "list":
            return {"applications": apps.all()}
        if args.app_command == "show":
            return apps.get(args.client_id)
        if args.app_command == "delete":
            return apps.delete(args.client_id)
        if args.public_key_file is not None:
            apps.set_live_public_key(args.client_id, public_key=_read(args.public_key_file))
        return apps.launch(args.client_id, force=args.force)
    finally:
        rt.close()


def run(args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Any]) -> int:
    """Run ``app ...`` or ``keys ...``; 0 done, 1 refused by the emulator, 2 bad usage."""
    from .errors import ControlError
    from .testing import ControlApiError

    if args.command == "keys":
        return _keys(args)
    url = args.url or os.environ.get("ALIPAY_EMULATOR_URL")
    try:
        if url:
            token = args.remote_admin_token or os.environ.get("ALIPAY_EMULATOR_ADMIN_TOKEN")
            result = _Remote(url, token).run(args)
        else:
            result = _local(args, settings_of(args))
    except (ControlError, ControlApiError) as exc:
        print(f"alipay-emulator: {exc.message}", file=sys.stderr)
        return 1
    except _UsageError as exc:
        print(f"alipay-emulator: {exc}", file=sys.stderr)
        return 2
    _print(result, as_json=args.json)
    return 0


def _keys(args: argparse.Namespace) -> int:
    from .applications.service import generate_key_pair
    from .signing import private_key_pkcs1_pem, private_key_pkcs8_b64, public_key_b64

    key = generate_key_pair()
    pair = {
        "privateKeyPem": private_key_pkcs1_pem(key),
        "privateKey": private_key_pkcs8_b64(key),
        "publicKey": public_key_b64(key.public_key()),
    }
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "TEST-ONLY-merchant-private-pkcs1.pem").write_text(pair["privateKeyPem"])
        (args.out / "TEST-ONLY-merchant-private-pkcs8.b64").write_text(pair["privateKey"] + "\n")
        (args.out / "TEST-ONLY-merchant-public-spki.b64").write_text(pair["publicKey"] + "\n")
    if args.json:
        print(json.dumps(pair, indent=2))
    else:
        print("TEST-ONLY key pair: never register it with the real Alipay gateway.")
        print(f"\nPublic key (X.509 SPKI Base64: upload this):\n{pair['publicKey']}")
        print(f"\nPrivate key (PKCS#8 Base64: Java, Go, PHP SDKs):\n{pair['privateKey']}")
        print(f"\nPrivate key (PKCS#1 PEM: Python SDK):\n{pair['privateKeyPem']}")
    return 0


_TEXT_FIELDS = [
    ("name", "Name"),
    ("clientId", "Client ID"),
    ("role", "Role"),
    ("product", "Product"),
    ("testCurrency", "Test currency"),
    ("environment", "Environment"),
    ("status", "Status"),
    ("customerId", "Customer ID"),
    ("notificationUrl", "Notification URL"),
]


def _print(result: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    if "applications" in result:
        for a in result["applications"]:
            print(
                f"{a['clientId']}  {a['role']:<8} {a['testCurrency']}  {a['environment']:<7} {a['status']:<27} {a['name']}"
            )
        return
    if result.get("deleted"):
        print(f"deleted {result['clientId']}")
        return
    for key, label in _TEXT_FIELDS:
        if result.get(key) is not None:
            print(f"{label}: {result[key]}")
    live = result.get("live") or {}
    if live.get("productionClientId"):
        print(f"Production client ID: {live['productionClientId']}")
        if live.get("forced"):
            print("Launched without passing acceptance: " + "; ".join(live.get("forcedReasons", [])))
    print(f"Merchant public key: {result.get('merchantPublicKey')}")
    if result.get("merchantPrivateKeyPem"):
        print("Merchant private key (TEST-ONLY, PKCS#1 PEM):")
        print(result["merchantPrivateKeyPem"].rstrip())
    print(f"Alipay public key: {result.get('alipayPublicKey')}")
    if result.get("testToken"):
        print(f"Test token: {result['testToken']}")
