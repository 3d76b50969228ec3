"""Report benchmark: one GMT+8 day with 1,000,000 stored transactions -> every reconciliation file.

    .venv/bin/python bench/reports.py [--transactions 1000000] [--database-url URL] [--json out.json]

Seeds the sandbox in a temporary data directory (SQLite by default; any SQLAlchemy URL, e.g. a
throwaway PostgreSQL database), bulk-inserts the day's payments, refunds and cancels (SQLAlchemy
Core executemany on SQLite, COPY on PostgreSQL; not timed), then runs the generation for that
date in a fresh child process, so its wall time and peak RSS are the generation's alone. The
JPY merchant settles in USD to include the FX path. Afterwards the files are checked: the
transaction details hold every row, and each settlement summary ties out to its items file.

Targets on the reference machine: < 60 s wall, < 300 MB peak RSS. Exit status 0 when the files
are correct (targets met or not), 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, update  # noqa: E402
from sqlmodel import select  # noqa: E402

from emulator.clock import Clock, ClockState  # noqa: E402
from emulator.payments.models import Payment  # noqa: E402
from emulator.reconciliation import models as _report_models  # noqa: E402, F401
from emulator.reconciliation.schedule import day_start  # noqa: E402
from emulator.reconciliation.service import ReconciliationService  # noqa: E402
from emulator.refunds.models import Refund  # noqa: E402
from emulator.runtime import build_runtime  # noqa: E402
from emulator.sandbox.models import Application  # noqa: E402
from emulator.settings import Settings  # noqa: E402
from emulator.storage import Database  # noqa: E402

DAY = date(2090, 3, 14)
CHUNK = 20_000
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0

PAYMENT_COLUMNS = (
    "payment_id", "merchant_customer_id", "client_id", "payment_request_id", "scenario",
    "currency", "amount", "payment_method_type", "payment_method_id", "fingerprint",
    "buyer_login_id", "psp_customer_id", "status", "result_code", "result_message",
    "created_at", "paid_at", "cancelled_at", "refunded_amount", "reference_order_id",
    "order_description", "reference_merchant_id", "reference_store_id",
)  # fmt: skip
REFUND_COLUMNS = (
    "refund_id", "payment_id", "merchant_customer_id", "client_id", "refund_request_id",
    "currency", "amount", "status", "result_code", "result_message", "created_at", "refund_time",
)  # fmt: skip


def _proc_status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` figure in MB (Linux). Unlike ``ru_maxrss``, ``VmHWM`` starts
    afresh at exec, so the parent's insert phase does not leak into the child's peak."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def peak_rss_mb() -> float:
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def rss_mb() -> float:
    return _proc_status_mb("VmRSS") or peak_rss_mb()


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, tls_port=0, sftp_port=0)


# -- the day's transactions ------------------------------------------------------------------


def mix(total: int) -> tuple[int, int, int]:
    """(payments, refunds, cancels) adding up to ``total`` rows of transaction details."""
    refunds = total // 10
    cancels = total // 50
    return total - refunds - cancels, refunds, cancels


def transactions(
    total: int, merchants: list[tuple[str, str, str]]
) -> tuple[Iterator[tuple[Any, ...]], Iterator[tuple[Any, ...]]]:
    """Payments and refunds spread over the day; every 44th payment is cancelled 5 min later
    (cancels are rows of the details, not of the tables), every 9th has a partial refund."""
    payments, refunds, cancels = mix(total)
    start = day_start(DAY)
    step = 86_000 / payments  # seconds; the last payment leaves room for its refund/cancel
    cancel_every = payments // cancels
    refund_every = payments // refunds

    def payment_rows() -> Iterator[tuple[Any, ...]]:
        cancelled = 0
        for i in range(payments):
            customer, client, currency = merchants[i % len(merchants)]
            paid = start + timedelta(seconds=i * step)
            is_cancel = i % cancel_every == cancel_every - 1 and cancelled < cancels
            cancelled += is_cancel
            yield (
                f"20900314114010800{i:018d}", customer, client, f"BENCH-{i}", "PaymentCode",
                currency, 1000 + i % 9000, "CONNECT_WALLET", None, "bench",
                "buyer@sandbox.example", "2088000000000001",
                "CANCELLED" if is_cancel else "SUCCESS", "SUCCESS", "success", paid, paid,
                paid + timedelta(minutes=5) if is_cancel else None,
                0 if is_cancel else 1, f"ORDER-{i}", "bench order", "M001", "S001",
            )  # fmt: skip

    def refund_rows() -> Iterator[tuple[Any, ...]]:
        made = 0
        for i in range(payments):
            if made == refunds:
                return
            if i % refund_every != 0 or (i % cancel_every == cancel_every - 1):
                continue
            customer, client, currency = merchants[i % len(merchants)]
            when = start + timedelta(seconds=i * step + 60)
            yield (
                f"20900314114010801{made:018d}", f"20900314114010800{i:018d}", customer, client,
                f"BENCH-R{made}", currency, 1, "SUCCESS", "SUCCESS", "success", when, when,
            )  # fmt: skip
            made += 1

    return payment_rows(), refund_rows()


def chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load(db: Database, table: Any, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    if db.dialect == "postgresql":
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            names = ", ".join(columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    stmt = insert(table)
    for batch in chunks(rows, CHUNK):
        with db.engine.begin() as conn:
            conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in batch])
        count += len(batch)
    return count


def prepare(data_dir: Path, database_url: str | None, total: int) -> dict[str, Any]:
    rt = build_runtime(settings_for(data_dir, database_url))
    try:
        with rt.db.write() as session:
            apps = list(session.exec(select(Application)).all())
            session.execute(
                update(Application)
                .where(Application.test_currency == "JPY")
                .values(settlement_currency="USD")  # type: ignore[arg-type]
            )
        merchants = [
            (a.test_merchant_customer_id or a.customer_id, a.client_id, a.test_currency) for a in apps
        ]
        payment_rows, refund_rows = transactions(total, merchants)
        began = time.perf_counter()
        n_payments = load(rt.db, Payment.__table__, PAYMENT_COLUMNS, payment_rows)  # type: ignore[attr-defined]
        n_refunds = load(rt.db, Refund.__table__, REFUND_COLUMNS, refund_rows)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - began
    finally:
        rt.close()
    return {"payments": n_payments, "refunds": n_refunds, "insertSeconds": round(seconds, 1)}


# -- generation (child process) --------------------------------------------------------------


def generate(data_dir: Path, database_url: str | None) -> dict[str, Any]:
    settings = settings_for(data_dir, database_url)
    db = Database(settings.resolved_database_url)
    clock = Clock(ClockState(frozen_at=datetime(2090, 3, 16, tzinfo=UTC)))
    service = ReconciliationService(db=db, clock=clock, settings=settings)
    baseline = rss_mb()
    began = time.perf_counter()
    result = service.run(day=DAY)
    seconds = time.perf_counter() - began
    db.dispose()
    return {
        "generationSeconds": round(seconds, 2),
        "peakRssMb": round(peak_rss_mb(), 1),
        "rssBeforeMb": round(baseline, 1),
        "files": [{"path": f.path, "type": f.type, "rows": f.rows, "size": f.size} for f in result.files],
    }


# -- checks ----------------------------------------------------------------------------------


def read(path: Path) -> Iterator[dict[str, str]]:
    """Stream a report by header names; checks the <END> trailer."""
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader([f.readline()]))
        last = ""
        for line in f:
            if last:
                yield dict(zip(header, next(csv.reader(io.StringIO(last))), strict=True))
            last = line
        if last != "<END>":
            raise AssertionError(f"{path.name}: last line is {last!r}, not <END>")


def check(data_dir: Path, files: list[dict[str, Any]], expected_rows: int) -> list[str]:
    problems: list[str] = []
    items = sum(f["rows"] for f in files if f["type"] == "transactionItems")
    if items != expected_rows:
        problems.append(f"transaction details hold {items} rows, expected {expected_rows}")
    for f in files:
        if f["type"] != "settlementSummary":
            continue
        items_path = data_dir / f["path"].replace("settlementSummary_", "settlementItems_")
        total = next(r for r in read(data_dir / f["path"]) if r["summaryType"] == "TOTAL")
        count = amount = fee = 0
        for row in read(items_path):
            count += 1
            amount += int(row["settlementAmountValue"])
            fee += int(row["feeAmountValue"])
        if (count, amount, fee) != (
            int(total["count"]),
            int(total["settlementAmountValue"]),
            int(total["feeAmountValue"]),
        ):
            problems.append(f"{f['path']}: TOTAL does not tie out to its items file")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the temp dir")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate is not None:  # the child: generation only, results on stdout
        print(json.dumps(generate(args.generate, args.database_url)))
        return 0

    with tempfile.TemporaryDirectory(prefix="alipay-report-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        print(f"inserting {args.transactions:,} transactions of {DAY} ...", flush=True)
        loaded = prepare(data_dir, args.database_url, args.transactions)
        print(
            f"  {loaded['payments']:,} payments, {loaded['refunds']:,} refunds in {loaded['insertSeconds']} s"
        )
        cmd = [sys.executable, __file__, "--generate", str(data_dir)]
        if args.database_url:
            cmd += ["--database-url", args.database_url]
        began = time.perf_counter()
        child = subprocess.run(cmd, capture_output=True, text=True, check=False)
        process_seconds = time.perf_counter() - began
        if child.returncode != 0:
            print(child.stdout, child.stderr, file=sys.stderr)
            return 1
        out = json.loads(child.stdout)
        problems = check(data_dir, out["files"], args.transactions)
        size = sum(f["size"] for f in out["files"])
        results = {
            "transactions": args.transactions,
            "database": "postgresql" if args.database_url else "sqlite",
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": platform.python_version(),
            **loaded,
            "generationSeconds": out["generationSeconds"],
            "childProcessSeconds": round(process_seconds, 2),
            "peakRssMb": out["peakRssMb"],
            "rssBeforeGenerationMb": out["rssBeforeMb"],
            "files": len(out["files"]),
            "bytesWritten": size,
            "problems": problems,
        }
    print(
        f"generation: {results['generationSeconds']} s (target < {TARGET_SECONDS:.0f} s), "
        f"peak RSS {results['peakRssMb']} MB (target < {TARGET_RSS_MB:.0f} MB), "
        f"{results['files']} files, {size / 1e6:.0f} MB"
    )
    for line in problems:
        print(f"PROBLEM: {line}")
    met = results["generationSeconds"] < TARGET_SECONDS and results["peakRssMb"] < TARGET_RSS_MB
    print("targets met" if met else "TARGETS MISSED")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
