"""End to end: the official SDK pays, refunds and cancels across a GMT+8 day boundary; a finance
job downloads the reports over SFTP with the sandbox credentials and ties every row out to the
API's answers. Rows are read by header name, as the spec advises."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from emulator.reconciliation.sftp import HOST_KEY_FILE
from emulator.testing import EmulatorClient

from ..conftest import Live
from ..support import EmulatorProcess, free_port
from .world import read_report

pytestmark = pytest.mark.e2e

T = date(2090, 3, 14)
Rows = list[dict[str, str]]


def ymd(day: date) -> str:
    return f"{day:%Y%m%d}"


def at(day: date, hhmmss: str) -> str:
    return f"{day.isoformat()}T{hhmmss}+08:00"


def known_hosts(data_dir: Path, host: str, port: int) -> asyncssh.SSHKnownHosts:
    """Pin the emulator's host key, as a careful finance job would."""
    pub = (data_dir / HOST_KEY_FILE).with_name(HOST_KEY_FILE.name + ".pub").read_text().split()
    return asyncssh.import_known_hosts(f"[{host}]:{port} {pub[0]} {pub[1]}\n")


def finance_job(live: Live, app: dict[str, Any], days: list[date]) -> dict[str, Any]:
    """What a nightly job does: log in, walk the customer folders, fetch every finished CSV."""
    sftp = live.sandbox["sftp"]
    pinned = known_hosts(live.process.data_dir, sftp["host"], sftp["port"])

    async def job() -> dict[str, Any]:
        async with (
            asyncssh.connect(
                sftp["host"],
                sftp["port"],
                username=app["sftp"]["username"],
                password=app["sftp"]["password"],
                known_hosts=pinned,
                client_keys=None,
                agent_path=None,
            ) as conn,
            conn.start_sftp_client() as client,
        ):
            customers = [n for n in await client.listdir("/v1/settlements") if n not in (".", "..")]
            files: dict[str, bytes] = {}
            for customer in customers:
                base = f"/v1/settlements/{customer}"
                present = set(await client.listdir(base))
                for day in days:
                    if ymd(day) not in present:
                        continue
                    for name in await client.listdir(f"{base}/{ymd(day)}"):
                        if name.endswith(".csv"):  # never read .tmp files (spec §6.1)
                            async with client.open(f"{base}/{ymd(day)}/{name}", "rb") as f:
                                files[f"{customer}/{ymd(day)}/{name}"] = await f.read()
            return {"customers": sorted(customers), "files": files}

    result: dict[str, Any] = asyncio.run(job())
    return result


def pick(files: dict[str, bytes], customer: str, day: date, prefix: str) -> Rows:
    found = [k for k in files if k.startswith(f"{customer}/{ymd(day)}/{prefix}")]
    assert len(found) == 1, (prefix, sorted(files))
    return read_report(files[found[0]])[1]


def tie_out_batch(items: Rows, summary: Rows, *, fee: int) -> None:
    paid_fee = fee
    """Every settlement row nets its fee (0 for a refund); the summary's counts and sums are the items'."""
    for row in items:
        assert row["transactionCurrency"] == row["settlementCurrency"] == row["feeCurrency"]
        fee = 0 if row["transactionType"] == "REFUND" else paid_fee
        assert int(row["feeAmountValue"]) == fee
        assert int(row["settlementAmountValue"]) == int(row["transactionAmountValue"]) - fee
        assert row["quoteCurrencyPair"] == row["quotePrice"] == ""
    by_type = {r["summaryType"]: r for r in summary}
    assert summary[0]["summaryType"] == "TOTAL"
    assert set(by_type) == {"TOTAL"} | {r["transactionType"] for r in items}
    for kind, row in by_type.items():
        chosen = [r for r in items if kind == "TOTAL" or r["transactionType"] == kind]
        assert int(row["count"]) == len(chosen)
        assert int(row["settlementAmountValue"]) == sum(int(r["settlementAmountValue"]) for r in chosen)
        assert int(row["feeAmountValue"]) == sum(int(r["feeAmountValue"]) for r in chosen)
        assert row["settlementBatchId"] == items[0]["settlementBatchId"]
        assert row["settlementTime"] == items[0]["settlementTime"]


def test_reports_tie_out_to_the_sdk_over_sftp(drop: Live) -> None:
    usd = drop.app("MERCHANT", 0)
    jpy = next(a for a in drop.sandbox["applications"] if a["testCurrency"] == "JPY")
    isv = drop.app("ISV")
    buyer = drop.buyer()["loginId"]

    def pay(app: dict[str, Any], request_id: str, amount: int, **client: Any) -> dict[str, Any]:
        code = drop.control.payment_code(buyer)
        body = drop.sdk.body(
            "pay_code",
            drop.client(app, **client),
            paymentRequestId=request_id,
            currency=app["testCurrency"],
            amount=amount,
            paymentCode=code,
        )
        assert body["result"]["resultCode"] == "SUCCESS", body
        return body

    def refund(request_id: str, paid: dict[str, Any], amount: int) -> dict[str, Any]:
        body = drop.sdk.body(
            "refund",
            drop.client(usd),
            refundRequestId=request_id,
            paymentId=paid["paymentId"],
            currency="USD",
            amount=amount,
        )
        assert body["result"]["resultCode"] == "SUCCESS", body
        return body

    def cancel(paid: dict[str, Any]) -> dict[str, Any]:
        body = drop.sdk.body("cancel", drop.client(usd), paymentId=paid["paymentId"])
        assert body["result"]["resultCode"] == "SUCCESS", body
        return body

    t1, t2 = T + timedelta(days=1), T + timedelta(days=2)
    drop.control.set_clock(at(T, "23:40:00"))
    a = pay(usd, "E2E-A", 10000)
    b = pay(usd, "E2E-B", 2500)
    ra1 = refund("E2E-RA1", a, 1500)
    isv_paid = pay(isv, "E2E-ISV", 5000, agent_token=isv["testToken"])
    j = pay(jpy, "E2E-J", 1200)
    drop.control.set_clock(at(t1, "00:02:00"))  # over the GMT+8 day boundary
    ra2 = refund("E2E-RA2", a, 2000)
    b_cancel = cancel(b)  # a day-T payment, cancelled on T+1 within the window
    c = pay(usd, "E2E-C", 700)
    c_cancel = cancel(c)
    d = pay(usd, "E2E-D", 999)
    assert drop.control.reconciliation_files() == []
    drop.control.set_clock(at(t2, "02:00:00"))  # T+1's files are due now

    job = finance_job(drop, usd, [T, t1, t2])
    assert job["customers"] == [usd["customerId"]]
    files = job["files"]
    cid = usd["customerId"]

    # Transaction details of T and T+1: every successful transaction, signed, by its own day.
    items_t = {(r["transactionType"], r["transactionId"]): r for r in pick(files, cid, T, "transactionItems")}
    items_t1 = {
        (r["transactionType"], r["transactionId"]): r for r in pick(files, cid, t1, "transactionItems")
    }
    expected_t = {
        ("PAYMENT", a["paymentId"]): ("E2E-A", "", "", 10000, a["paymentTime"]),
        ("PAYMENT", b["paymentId"]): ("E2E-B", "", "", 2500, b["paymentTime"]),
        ("REFUND", ra1["refundId"]): ("E2E-RA1", a["paymentId"], "E2E-A", -1500, ra1["refundTime"]),
    }
    expected_t1 = {
        ("REFUND", ra2["refundId"]): ("E2E-RA2", a["paymentId"], "E2E-A", -2000, ra2["refundTime"]),
        # CANCEL rows: originalTransactionId and referenceTransactionId empty (issue #12).
        ("CANCEL", b["paymentId"]): (
            "E2E-B",
            "",
            "E2E-B",
            -2500,
            b_cancel["cancelTime"],
        ),
        ("PAYMENT", c["paymentId"]): ("E2E-C", "", "", 700, c["paymentTime"]),
        ("CANCEL", c["paymentId"]): (
            "E2E-C",
            "",
            "E2E-C",
            -700,
            c_cancel["cancelTime"],
        ),
        ("PAYMENT", d["paymentId"]): ("E2E-D", "", "", 999, d["paymentTime"]),
    }
    for rows, expected in ((items_t, expected_t), (items_t1, expected_t1)):
        assert set(rows) == set(expected)
        for key, (request_id, original, original_request, amount, when) in expected.items():
            row = rows[key]
            assert row["customerId"] == cid
            assert row["transactionRequestId"] == request_id
            assert row["originalTransactionId"] == original
            assert row["originalTransactionRequestId"] == original_request
            assert int(row["transactionAmountValue"]) == amount
            assert row["transactionCurrency"] == "USD"
            assert row["paymentTime"] == when
            assert row["productCode"] == "IN_STORE_PAYMENT"
    assert items_t[("PAYMENT", a["paymentId"])]["referenceTransactionId"] == "ORDER-E2E-A"
    assert items_t1[("CANCEL", c["paymentId"])]["referenceTransactionId"] == ""
    assert ra1["refundAmount"]["value"] == "1500" and a["paymentAmount"]["value"] == "10000"

    # Settlement T+1 settles T: A and its first refund; B was cancelled before settling.
    fee = 10
    s1_items, s1_summary = (
        pick(files, cid, t1, "settlementItems_USD_"),
        pick(files, cid, t1, "settlementSummary_USD_"),
    )
    assert [(r["transactionType"], r["transactionId"], r["settlementAmountValue"]) for r in s1_items] == [
        ("PAYMENT", a["paymentId"], "9990"),
        ("REFUND", ra1["refundId"], "-1500"),
    ]
    tie_out_batch(s1_items, s1_summary, fee=fee)
    assert [
        (r["summaryType"], r["count"], r["settlementAmountValue"], r["feeAmountValue"]) for r in s1_summary
    ] == [
        ("TOTAL", "2", "8490", "10"),
        ("PAYMENT", "1", "9990", "10"),
        ("REFUND", "1", "-1500", "0"),
    ]
    # Settlement T+2 settles T+1: the second refund and D; C was cancelled, cancels never settle.
    s2_items, s2_summary = (
        pick(files, cid, t2, "settlementItems_USD_"),
        pick(files, cid, t2, "settlementSummary_USD_"),
    )
    assert [(r["transactionType"], r["transactionId"]) for r in s2_items] == [
        ("REFUND", ra2["refundId"]),
        ("PAYMENT", d["paymentId"]),
    ]
    tie_out_batch(s2_items, s2_summary, fee=fee)
    for batch, details in ((s1_items, items_t), (s2_items, items_t1)):
        for row in batch:
            detail = details[(row["transactionType"], row["transactionId"])]
            for column in (
                "transactionRequestId",
                "originalTransactionId",
                "transactionAmountValue",
                "paymentTime",
                "originalTransactionRequestId",
            ):
                assert row[column] == detail[column], column
    assert s1_items[0]["settlementBatchId"] != s2_items[0]["settlementBatchId"]
    assert s1_items[0]["settlementTime"] == at(t1, "02:00:00")

    # The control API serves the same bytes; an on-demand run rewrites them identically.
    listed = {f["path"]: f for f in drop.control.reconciliation_files(customer_id=cid)}
    for key, data in files.items():
        assert drop.control.download(f"v1/settlements/{key}") == data
        assert f"v1/settlements/{key}" in listed
    drop.control.run_reconciliation(T.isoformat(), client_id=usd["clientId"])
    again = finance_job(drop, usd, [T, t1, t2])["files"]
    assert again == files

    # An ISV's transaction is in its merchant's folder, which its login also reads; the JPY
    # merchant pays the fee in yen.
    isv_job = finance_job(drop, isv, [T, t1])
    assert isv_job["customers"] == sorted([isv["customerId"], isv["testMerchantCustomerId"]])
    assert not [k for k in isv_job["files"] if k.startswith(isv["customerId"] + "/")]
    isv_rows = pick(isv_job["files"], isv["testMerchantCustomerId"], T, "transactionItems")
    assert [
        (r["transactionId"], r["transactionAmountValue"], r["transactionCurrency"]) for r in isv_rows
    ] == [(isv_paid["paymentId"], "5000", "HKD")]
    jpy_job = finance_job(drop, jpy, [T, t1])
    jpy_settled = pick(jpy_job["files"], jpy["customerId"], t1, "settlementItems_JPY_")
    assert [
        (r["transactionId"], r["settlementAmountValue"], r["feeAmountValue"], r["feeCurrency"])
        for r in jpy_settled
    ] == [(j["paymentId"], "1190", "10", "JPY")]
    counts = Counter(k.split("/")[2].split("_")[0] for k in files)
    assert counts == {"transactionItems": 2, "settlementItems": 2, "settlementSummary": 2}


def test_the_host_key_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    keys = []
    for _ in range(2):
        proc = EmulatorProcess(data, tls_port=0, sftp_port=port).start()
        try:
            with EmulatorClient(proc.http_url) as control:
                sandbox = control.sandbox()
                assert sandbox["sftp"]["port"] == port
                app = sandbox["applications"][0]
            keys.append((data / HOST_KEY_FILE).read_bytes())

            async def login(pinned: asyncssh.SSHKnownHosts, app: dict[str, Any]) -> list[str]:
                async with (
                    asyncssh.connect(
                        "127.0.0.1",
                        port,
                        username=app["sftp"]["username"],
                        password=app["sftp"]["password"],
                        known_hosts=pinned,
                        client_keys=None,
                        agent_path=None,
                    ) as conn,
                    conn.start_sftp_client() as client,
                ):
                    return list(await client.listdir("/v1/settlements"))

            names = asyncio.run(login(known_hosts(data, "127.0.0.1", port), app))
            assert app["customerId"] in names
        finally:
            assert proc.stop() == 0
    assert keys[0] == keys[1]
