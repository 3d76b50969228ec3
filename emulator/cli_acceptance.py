"""``alipay-emulator acceptance start|status|finish``: acceptance runs from a shell or CI.

Talks to the running emulator's control API (``--url``, else ``ALIPAY_EMULATOR_URL``, else this
machine's ``ALIPAY_EMULATOR_PORT``), because the grades come from the calls that emulator saw.
``status`` and ``finish`` exit 0 only when every required case of the run passed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:  # imported by ``run``: ``serve`` needs neither the client nor httpx
    from .testing import EmulatorClient

EXIT_PASSED, EXIT_NOT_PASSED, EXIT_ERROR = 0, 1, 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "acceptance", help="open, show or finish an acceptance run (exit 0 when every required case passed)"
    )
    parser.add_argument("action", choices=("start", "status", "finish"))
    parser.add_argument(
        "--client-id",
        dest="acceptance_client_id",
        metavar="CLIENT_ID",
        required=True,
        help="the application's client ID",
    )
    parser.add_argument(
        "--url",
        dest="acceptance_url",
        default=None,
        help="the emulator (default: ALIPAY_EMULATOR_URL or http://127.0.0.1:<ALIPAY_EMULATOR_PORT>)",
    )
    parser.add_argument(
        "--run",
        dest="acceptance_run",
        type=int,
        default=None,
        help="the run id (default: the newest run of the application)",
    )
    parser.add_argument(
        "--cases",
        dest="acceptance_cases",
        default=None,
        help="start: only these cases, comma-separated (default: every case that fits)",
    )
    parser.add_argument(
        "--junit",
        dest="acceptance_junit",
        type=Path,
        default=None,
        help="write the run's JUnit XML to this file",
    )
    return parser


def run(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from .testing import ControlApiError, EmulatorClient

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    url = args.acceptance_url or os.environ.get("ALIPAY_EMULATOR_URL") or f"http://127.0.0.1:{settings.port}"
    try:
        with EmulatorClient(url, admin_token=settings.admin_token) as client:
            return _act(client, args)
    except ControlApiError as exc:
        print(f"alipay-emulator acceptance: {exc}", file=sys.stderr)
    except httpx.HTTPError as exc:
        print(f"alipay-emulator acceptance: cannot reach the emulator at {url}: {exc}", file=sys.stderr)
    return EXIT_ERROR


def _act(client: EmulatorClient, args: argparse.Namespace) -> int:
    client_id: str = args.acceptance_client_id
    if args.action == "start":
        cases = (
            [c.strip() for c in args.acceptance_cases.split(",") if c.strip()]
            if args.acceptance_cases
            else None
        )
        view = client.open_acceptance_run(client_id, cases)
    else:
        run_id = args.acceptance_run or _newest(client, client_id)
        if run_id is None:
            print(
                f"alipay-emulator acceptance: application {client_id} has no acceptance run", file=sys.stderr
            )
            return EXIT_ERROR
        view = (
            client.finish_acceptance_run(run_id) if args.action == "finish" else client.acceptance_run(run_id)
        )
    print(report(view))
    if args.acceptance_junit is not None:
        args.acceptance_junit.write_text(client.acceptance_junit(int(view["id"])), encoding="utf-8")
    if args.action == "start":
        return EXIT_PASSED
    return EXIT_PASSED if view["passed"] else EXIT_NOT_PASSED


def _newest(client: EmulatorClient, client_id: str) -> int | None:
    runs = client.acceptance_runs(client_id)
    return int(runs[0]["id"]) if runs else None


def report(view: dict[str, Any]) -> str:
    """The run as text: one line per case, the reason and evidence under a failed one."""
    lines = [f"acceptance run {view['id']} of {view['clientId']}: {view['status']}"]
    for c in view["cases"]:
        need = "required" if c["required"] else "optional"
        lines.append(f"  {c['id']:<11} {c['status']:<12} {need:<9} {c['title']}")
        if c["status"] == "not_started":
            lines.append(
                f"      start it: POST /_emulator/acceptance/runs/{view['id']}/cases/{c['id']}/start"
            )
        if c["reason"]:
            lines.append(f"      {c['reason']}")
        if c["evidence"]:
            lines.append("      evidence: " + ", ".join(f"{e['kind']} {e['id']}" for e in c["evidence"]))
    verdict = "every required case passed" if view["passed"] else "not every required case has passed"
    lines.append(verdict)
    return "\n".join(lines)
