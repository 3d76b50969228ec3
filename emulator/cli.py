"""``alipay-emulator serve | sandbox | payment-code | reconcile | wait``; every option also reads its environment variable."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import __version__, cli_acceptance, cli_apps
from .errors import ControlError
from .logs import configure as configure_logging
from .reconciliation.formats import parse_day
from .sandbox.errors import FixtureError
from .settings import Settings
from .startup import StartupError, settings_error, unknown_variables
from .target import TOKEN_ENV, URL_ENV, TargetError, open_target

# (flag, settings field, type, help). Serve reads them all; the data-directory commands only
# the storage ones: the rest would be ignored there, so they are not offered.
_STORAGE_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--data-dir", "data_dir", Path, "database, CA and reports (ALIPAY_EMULATOR_DATA_DIR)"),
    ("--database-url", "database_url", str, "SQLAlchemy URL (ALIPAY_EMULATOR_DATABASE_URL)"),
    ("--fixtures", "fixtures", Path, "sandbox definition folder (ALIPAY_EMULATOR_FIXTURES)"),
]
_SERVE_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--host", "host", str, "bind address (ALIPAY_EMULATOR_HOST)"),
    ("--port", "port", int, "HTTP port (ALIPAY_EMULATOR_PORT)"),
    ("--tls-port", "tls_port", int, "HTTPS port, 0 disables (ALIPAY_EMULATOR_TLS_PORT)"),
    ("--sftp-port", "sftp_port", int, "SFTP port, 0 disables (ALIPAY_EMULATOR_SFTP_PORT)"),
    *_STORAGE_OPTIONS,
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
    ("--log-level", "log_level", str, "debug, info, warning, error (ALIPAY_EMULATOR_LOG_LEVEL)"),
    ("--log-format", "log_format", str, "text or json (ALIPAY_EMULATOR_LOG_FORMAT)"),
    ("--workers", "workers", int, "processes on the same ports and database (ALIPAY_EMULATOR_WORKERS)"),
]
_ALL_OPTIONS = _SERVE_OPTIONS

_MODES = (
    "Works on the running emulator at --url (ALIPAY_EMULATOR_URL), through its control API, when "
    "one is given; otherwise directly on the data directory (--data-dir, ALIPAY_EMULATOR_DATA_DIR), "
    "with no server needed."
)


def _add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, options: list[tuple[str, str, type, str]]
) -> None:
    for flag, dest, kind, help_text in options:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=help_text)


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` / ``--admin-token`` for a running emulator, or the data-directory options."""
    remote = parser.add_argument_group("a running emulator")
    remote.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or None,
        help="its HTTP address, e.g. http://localhost:8080 (ALIPAY_EMULATOR_URL)",
    )
    remote.add_argument(
        "--admin-token",
        dest="remote_admin_token",
        default=os.environ.get(TOKEN_ENV) or None,
        help="its admin token, when it has one (ALIPAY_EMULATOR_ADMIN_TOKEN)",
    )
    _add_options(parser.add_argument_group("or the data directory"), _STORAGE_OPTIONS)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        dest: getattr(args, dest) for _, dest, _, _ in _ALL_OPTIONS if getattr(args, dest, None) is not None
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
    _add_options(serve, _SERVE_OPTIONS)
    sandbox = sub.add_parser(
        "sandbox",
        help="print the sandbox resources as JSON",
        description=f"Print the sandbox resources. {_MODES}",
    )
    _add_target_options(sandbox)
    code = sub.add_parser(
        "payment-code",
        help="issue a payment code for a buyer",
        description=f"Issue a payment code for a buyer. {_MODES}",
    )
    _add_target_options(code)
    code.add_argument("--buyer", required=True, help="the buyer's loginId (see `sandbox`)")
    reconcile = sub.add_parser(
        "reconcile",
        help="write the reconciliation files of a transaction date (spec §6)",
        description=f"Write the reconciliation files of a transaction date. {_MODES}",
    )
    _add_target_options(reconcile)
    reconcile.add_argument(
        "--date", required=True, type=_day, help="the transaction date (GMT+8), YYYY-MM-DD"
    )
    reconcile.add_argument(
        "--client-id", dest="client_id", default=None, help="only this application's merchants"
    )
    wait = sub.add_parser(
        "wait",
        help="wait until a running emulator is healthy (exit 0), for CI scripts",
        description="Poll GET /_emulator/health until it answers 200 (exit 0) or the timeout passes (exit 1).",
    )
    wait.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or "http://localhost:8080",
        help="the emulator's HTTP address (ALIPAY_EMULATOR_URL; default http://localhost:8080)",
    )
    wait.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    cli_apps.add_parsers(sub, _add_target_options)  # issue #9: app ..., keys generate
    cli_acceptance.add_parser(sub)  # issue #10
    return parser


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _wait(url: str, timeout: float) -> int:
    import time

    import httpx

    deadline = time.monotonic() + max(timeout, 0.0)
    last = "no answer"
    while True:
        try:
            response = httpx.get(f"{url.rstrip('/')}/_emulator/health", timeout=2.0)
            if response.status_code == 200:
                print(f"alipay-emulator: healthy at {url}")
                return 0
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            print(f"alipay-emulator: not healthy at {url} after {timeout:g} s ({last})", file=sys.stderr)
            return 1
        time.sleep(0.2)


def _run_on_target(args: argparse.Namespace, settings: Settings) -> int:
    with open_target(url=args.url, admin_token=args.remote_admin_token, settings=settings) as target:
        if args.command == "sandbox":
            out = target.sandbox()
        elif args.command == "reconcile":
            out = target.reconcile(args.date, args.client_id)
        else:
            out = target.payment_code(args.buyer)
    print(json.dumps(out, indent=None if args.command == "payment-code" else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "wait":
        return _wait(args.url, args.timeout)
    if args.command in ("app", "keys"):
        return cli_apps.run(args, _settings)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"alipay-emulator: invalid setting: {settings_error(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "acceptance":  # issue #10: a client of the running emulator
        return cli_acceptance.run(args, settings)
    try:
        if args.command == "serve":
            return _serve(settings)
        return _run_on_target(args, settings)
    except FixtureError as exc:
        print(f"alipay-emulator: broken sandbox fixture: {exc}", file=sys.stderr)
        return 2
    except TargetError as exc:
        print(f"alipay-emulator: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ControlError as exc:
        print(f"alipay-emulator: {exc.message}", file=sys.stderr)
        return 1


def _serve(settings: Settings) -> int:
    for warning in unknown_variables(os.environ):
        logging.getLogger("emulator").warning("%s", warning)
    if settings.workers > 1:  # issue #13: N whole emulators on the same ports and database
        from .workers import supervise

        return supervise(settings)
    # Start-up makes ~200k objects that live as long as the process (modules, models, routes):
    # cyclic collections while they are made find nothing and cost ~10% of the start. serve()
    # turns the collector back on, those objects frozen, once the app is built.
    gc.disable()
    from .startup import prepare_in_background

    preparing = prepare_in_background(settings)  # the database's work overlaps the next import
    try:
        from .server import serve

        asyncio.run(serve(settings, preparing=preparing))
    except StartupError as exc:
        if settings.log_level == "debug":
            logging.getLogger("emulator").exception("start-up failed")
        print(f"alipay-emulator: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
