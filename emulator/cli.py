"""``alipay-emulator serve | sandbox | payment-code | reconcile``; every option also reads its environment variable."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import __version__
from .clock import iso
from .errors import ControlError
from .reconciliation.formats import parse_day
from .sandbox.fixtures import FixtureError
from .settings import Settings

_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--host", "host", str, "bind address (ALIPAY_EMULATOR_HOST)"),
    ("--port", "port", int, "HTTP port (ALIPAY_EMULATOR_PORT)"),
    ("--tls-port", "tls_port", int, "HTTPS port, 0 disables (ALIPAY_EMULATOR_TLS_PORT)"),
    ("--sftp-port", "sftp_port", int, "SFTP port, 0 disables (ALIPAY_EMULATOR_SFTP_PORT)"),
    ("--data-dir", "data_dir", Path, "database, CA and reports (ALIPAY_EMULATOR_DATA_DIR)"),
    ("--database-url", "database_url", str, "SQLAlchemy URL (ALIPAY_EMULATOR_DATABASE_URL)"),
    ("--fixtures", "fixtures", Path, "sandbox definition folder (ALIPAY_EMULATOR_FIXTURES)"),
    (
        "--admin-token",
        "admin_token",
        str,
        "require this bearer token on /_emulator (ALIPAY_EMULATOR_ADMIN_TOKEN)",
    ),
    (
        "--tls-hostnames",
        "tls_hostnames",
        str,
        "extra certificate names, comma-separated (ALIPAY_EMULATOR_TLS_HOSTNAMES)",
    ),
    ("--log-level", "log_level", str, "debug, info, warning (ALIPAY_EMULATOR_LOG_LEVEL)"),
    ("--workers", "workers", int, "processes on the same ports and database (ALIPAY_EMULATOR_WORKERS)"),
]


def _add_options(parser: argparse.ArgumentParser) -> None:
    for flag, dest, kind, help_text in _OPTIONS:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=help_text)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        dest: getattr(args, dest) for _, dest, _, _ in _OPTIONS if getattr(args, dest, None) is not None
    }
    return Settings(**overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alipay-emulator", description="Local Alipay in-store gateway emulator"
    )
    parser.add_argument("--version", action="version", version=f"alipay-emulator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the gateway (HTTP and HTTPS), the control API and the SFTP drop"
    )
    _add_options(serve)
    sandbox = sub.add_parser("sandbox", help="print the sandbox resources as JSON")
    _add_options(sandbox)
    code = sub.add_parser("payment-code", help="issue a payment code for a buyer")
    _add_options(code)
    code.add_argument("--buyer", required=True, help="the buyer's loginId (see `sandbox`)")
    reconcile = sub.add_parser(
        "reconcile", help="write the reconciliation files of a transaction date (spec §6)"
    )
    _add_options(reconcile)
    reconcile.add_argument(
        "--date", required=True, type=_day, help="the transaction date (GMT+8), YYYY-MM-DD"
    )
    reconcile.add_argument(
        "--client-id", dest="client_id", default=None, help="only this application's merchants"
    )
    return parser


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"alipay-emulator: invalid setting: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            if settings.workers > 1:
                from .workers import supervise

                return supervise(settings)
            from .server import serve

            asyncio.run(serve(settings))
            return 0
        from .app import wire
        from .runtime import build_runtime

        rt = wire(build_runtime(settings))
        try:
            if args.command == "sandbox":
                print(json.dumps(rt.resources(), indent=2))
            elif args.command == "reconcile":
                from .reconciliation.install import install as install_reconciliation

                try:
                    reports = install_reconciliation(rt)
                except ValueError as exc:  # a settlement currency without an FX quote
                    print(f"alipay-emulator: {exc}", file=sys.stderr)
                    return 2
                result = reports.run(day=args.date, client_id=args.client_id)
                print(json.dumps(result.public(), indent=2))
            else:
                from .wallet.service import issue_payment_code

                with rt.db.write() as session:
                    code = issue_payment_code(
                        session,
                        login_id=args.buyer,
                        now=rt.clock.now(),
                        ttl_seconds=settings.payment_code_ttl_seconds,
                    )
                print(json.dumps({"paymentCode": code.code, "expiresAt": iso(code.expires_at)}))
        finally:
            rt.close()
    except FixtureError as exc:
        print(f"alipay-emulator: broken sandbox fixture: {exc}", file=sys.stderr)
        return 2
    except ControlError as exc:
        print(f"alipay-emulator: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
