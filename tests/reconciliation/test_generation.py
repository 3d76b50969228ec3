"""Report generation through the control API of an in-process app: the automatic schedule,
on-demand runs, the CLI, settings, and what the files contain."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.cli import main
from emulator.reconciliation.fx import QuoteError
from emulator.settings import Settings, bundled_fixtures

from ..conftest import Gateway, pay_body
from .world import next_day, read_report

T = "2090-03-14"  # a Tuesday, GMT+8


def _app(tmp_path: Path, **settings: Any) -> Iterator[Gateway]:
    s = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0, **settings)
    with TestClient(create_app(s)) as http:
        yield Gateway(http=http, sandbox=http.get("/_emulator/sandbox").json())


@pytest.fixture
def custom(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Gateway]:
    yield from _app(tmp_path, **getattr(request, "param", {}))


def clock(gw: Gateway, when: str) -> None:
    # Frozen: on a loaded machine a second may pass between setting the clock and the next call.
    r = gw.http.post("/_emulator/clock", json={"now": when, "frozen": True})
    assert r.status_code == 200, r.text


def pay(
    gw: Gateway, request_id: str, amount: int, *, app: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    app = app or gw.app()
    body = pay_body(gw.code(), request_id=request_id, currency=app["testCurrency"], amount=amount)
    paid = gw.call("pay", body, app=app, **kw)
    assert paid["result"]["resultCode"] == "SUCCESS", paid
    return paid


def refund(
    gw: Gateway,
    request_id: str,
    payment_id: str,
    amount: int,
    *,
    app: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    app = app or gw.app()
    body = {
        "refundRequestId": request_id,
        "paymentId": payment_id,
        "refundAmount": {"currency": app["testCurrency"], "value": str(amount)},
    }
    done = gw.call("refund", body, app=app, **kw)
    assert done["result"]["resultCode"] == "SUCCESS", done
    return done


def cancel(gw: Gateway, payment_id: str, **kw: Any) -> dict[str, Any]:
    done = gw.call("cancel", {"paymentId": payment_id}, **kw)
    assert done["result"]["resultCode"] == "SUCCESS", done
    return done


def files(gw: Gateway, **params: str) -> dict[str, dict[str, Any]]:
    r = gw.http.get("/_emulator/reconciliation/files", params=params)
    assert r.status_code == 200, r.text
    return {f["path"]: f for f in r.json()["files"]}


def report(gw: Gateway, path: str) -> list[dict[str, str]]:
    r = gw.http.get(f"/_emulator/reconciliation/files/{path}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return read_report(r.content)[1]


def folder(gw: Gateway, day: str, app: dict[str, Any] | None = None) -> str:
    return f"v1/settlements/{(app or gw.app())['customerId']}/{day.replace('-', '')}"


def items_path(gw: Gateway, day: str, app: dict[str, Any] | None = None) -> str:
    ymd = day.replace("-", "")
    return f"{folder(gw, day, app)}/transactionItems_{ymd}_000.csv"


def one(found: dict[str, dict[str, Any]], kind: str) -> str:
    paths = [p for p, f in found.items() if f["type"] == kind]
    assert len(paths) == 1, found
    return paths[0]


def test_files_appear_at_the_cutoff_plus_delay(gateway: Gateway) -> None:
    clock(gateway, f"{T}T23:50:00+08:00")
    paid = pay(gateway, "SCHED-1", 1000)
    clock(gateway, f"{next_day(T)}T01:59:59+08:00")
    assert files(gateway) == {}
    clock(gateway, f"{next_day(T)}T02:00:00+08:00")
    found = files(gateway)
    assert sorted((f["date"], f["type"]) for f in found.values()) == [
        (T.replace("-", ""), "transactionItems"),
        (next_day(T).replace("-", ""), "settlementItems"),
        (next_day(T).replace("-", ""), "settlementSummary"),
    ]
    assert items_path(gateway, T) in found
    rows = report(gateway, items_path(gateway, T))
    assert [(r["transactionId"], r["transactionAmountValue"]) for r in rows] == [(paid["paymentId"], "1000")]
    assert rows[0]["paymentTime"] == paid["paymentTime"] == f"{T}T23:50:00+08:00"


def test_a_clock_jump_writes_every_due_day_once(gateway: Gateway) -> None:
    clock(gateway, f"{T}T10:00:00+08:00")
    first = pay(gateway, "JUMP-1", 1000)
    clock(gateway, f"{next_day(T, 2)}T10:00:00+08:00")
    second = pay(gateway, "JUMP-2", 2000)
    clock(gateway, f"{next_day(T, 5)}T10:00:00+08:00")
    found = files(gateway)
    days = sorted({f["date"] for f in found.values()})
    # Details on T and T+2, their settlements on T+1 and T+3; nothing for the empty T+1.
    assert days == [d.replace("-", "") for d in (T, next_day(T), next_day(T, 2), next_day(T, 3))]
    assert items_path(gateway, next_day(T)) not in found
    assert report(gateway, items_path(gateway, T))[0]["transactionId"] == first["paymentId"]
    assert report(gateway, items_path(gateway, next_day(T, 2)))[0]["transactionRequestId"] == "JUMP-2"
    assert second["paymentId"]
    # The hook keeps running every second: written days are not written again.
    mtimes = {p: (gateway_data(gateway) / p).stat().st_mtime_ns for p in found}
    clock(gateway, f"{next_day(T, 5)}T11:00:00+08:00")
    assert {p: (gateway_data(gateway) / p).stat().st_mtime_ns for p in found} == mtimes


def gateway_data(gw: Gateway) -> Path:
    settings: Settings = gw.http.app.state.runtime.settings  # type: ignore[attr-defined]
    return settings.data_dir


def test_on_demand_run_is_byte_identical_and_scoped(gateway: Gateway) -> None:
    merchant, isv = gateway.by_role("MERCHANT"), gateway.by_role("ISV")
    clock(gateway, f"{T}T09:00:00+08:00")
    paid = pay(gateway, "RUN-1", 5000)
    refund(gateway, "RUN-R1", paid["paymentId"], 1200)
    isv_paid = pay(gateway, "RUN-ISV", 3300, app=isv, headers={"Agent-Token": isv["testToken"]})
    r = gateway.http.post("/_emulator/reconciliation/run", json={"date": T})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["date"] == T and run["settlementDate"] == next_day(T)
    written = {f["path"]: f for f in run["files"]}
    data = gateway_data(gateway)
    first = {p: (data / p).read_bytes() for p in written}
    again = gateway.http.post("/_emulator/reconciliation/run", json={"date": T}).json()
    assert {f["path"] for f in again["files"]} == set(written)
    assert {p: (data / p).read_bytes() for p in written} == first
    assert written[items_path(gateway, T)]["rows"] == 2
    # An ISV's transactions are filed under its merchant, not under the ISV.
    assert items_path(gateway, T, isv) not in written
    isv_items = f"v1/settlements/{isv['testMerchantCustomerId']}/{T.replace('-', '')}/transactionItems_{T.replace('-', '')}_000.csv"
    assert report(gateway, isv_items)[0]["transactionId"] == isv_paid["paymentId"]
    # clientId limits the run to that application's merchants.
    scoped = gateway.http.post(
        "/_emulator/reconciliation/run", json={"date": T, "clientId": merchant["clientId"]}
    ).json()
    assert {f["customerId"] for f in scoped["files"]} == {merchant["customerId"]}
    isv_run = gateway.http.post(
        "/_emulator/reconciliation/run", json={"date": T, "clientId": isv["clientId"]}
    ).json()
    assert {f["customerId"] for f in isv_run["files"]} == {isv["testMerchantCustomerId"]}
    # Listing filters.
    assert set(files(gateway, customerId=merchant["customerId"], date=T)) == {items_path(gateway, T)}
    bad = gateway.http.post("/_emulator/reconciliation/run", json={"date": "14/03/2090"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json()["error"]
    unknown = gateway.http.post("/_emulator/reconciliation/run", json={"date": T, "clientId": "SANDBOX_NOPE"})
    assert unknown.status_code == 404


def test_cancelled_payments_are_not_settled(gateway: Gateway) -> None:
    clock(gateway, f"{T}T23:55:00+08:00")
    kept = pay(gateway, "C-KEEP", 1000)
    gone = pay(gateway, "C-GONE", 2000)
    clock(gateway, f"{next_day(T)}T00:05:00+08:00")  # inside the cancel window (00:15)
    cancelled = cancel(gateway, gone["paymentId"])
    clock(gateway, f"{next_day(T, 2)}T03:00:00+08:00")
    items_t = report(gateway, items_path(gateway, T))
    assert [(r["transactionType"], r["transactionRequestId"]) for r in items_t] == [
        ("PAYMENT", "C-KEEP"),
        ("PAYMENT", "C-GONE"),
    ]
    items_t1 = report(gateway, items_path(gateway, next_day(T)))
    assert (
        items_t1 == [items_t1[0] | {"transactionType": "CANCEL"}]
        and items_t1[0]["transactionAmountValue"] == "-2000"
    )
    # Both field tables: originalTransactionId and referenceTransactionId are empty for CANCEL.
    assert items_t1[0]["transactionId"] == gone["paymentId"]
    assert items_t1[0]["originalTransactionId"] == "" and items_t1[0]["referenceTransactionId"] == ""
    assert items_t1[0]["originalTransactionRequestId"] == "C-GONE"
    assert items_t1[0]["paymentTime"] == cancelled["cancelTime"]
    found = files(gateway)
    settled = report(gateway, one(files(gateway, date=next_day(T)), "settlementItems"))
    assert [r["transactionId"] for r in settled] == [kept["paymentId"]]
    # The day of the cancel has nothing to settle: no settlement files at all.
    assert not [p for p in found if p.startswith(folder(gateway, next_day(T, 2)))]


@pytest.mark.parametrize(
    "custom", [{"cancel_window_seconds": 3 * 86400}], indirect=True, ids=["long-cancel-window"]
)
def test_a_cancel_after_settlement_is_settled_negative(custom: Gateway) -> None:
    gw = custom
    clock(gw, f"{T}T10:00:00+08:00")
    paid = pay(gw, "LATE-1", 4000)
    clock(gw, f"{next_day(T)}T03:00:00+08:00")  # the batch of T settled at 02:00
    assert [r["transactionId"] for r in report(gw, one(files(gw, date=next_day(T)), "settlementItems"))] == [
        paid["paymentId"]
    ]
    cancel(gw, paid["paymentId"])
    clock(gw, f"{next_day(T, 2)}T03:00:00+08:00")
    batch = files(gw, date=next_day(T, 2))
    rows = report(gw, one(batch, "settlementItems"))
    assert [
        (
            r["transactionType"],
            r["transactionAmountValue"],
            r["settlementAmountValue"],
            r["feeAmountValue"],
        )
        for r in rows
    ] == [("CANCEL", "-4000", "-4010", "10")]
    summary = {r["summaryType"]: r for r in report(gw, one(batch, "settlementSummary"))}
    assert set(summary) == {"TOTAL", "CANCEL"}
    assert summary["TOTAL"]["count"] == "1" and summary["TOTAL"]["settlementAmountValue"] == "-4010"


@pytest.mark.parametrize(
    "custom",
    [{"reconciliation_empty_files": True, "reconciliation_settle_weekends": False}],
    indirect=True,
    ids=["empty-files-no-weekends"],
)
def test_empty_files_and_working_days(custom: Gateway) -> None:
    gw = custom
    fri, mon = "2090-03-17", "2090-03-20"
    run = gw.http.post("/_emulator/reconciliation/run", json={"date": fri}).json()
    assert run["settlementDate"] == mon
    customers = {a["customerId"] for a in gw.sandbox["applications"]} | {
        a["testMerchantCustomerId"] for a in gw.sandbox["applications"] if a["role"] == "ISV"
    }
    by_type: dict[str, set[str]] = {}
    for f in run["files"]:
        by_type.setdefault(f["type"], set()).add(f["customerId"])
        if f["type"] != "settlementSummary":
            assert f["rows"] == 0
    assert by_type == dict.fromkeys(("transactionItems", "settlementItems", "settlementSummary"), customers)
    data = gateway_data(gw)
    sample = next(f for f in run["files"] if f["type"] == "transactionItems")
    assert (data / sample["path"]).read_text().split("\n")[1:] == ["<END>"]
    summary = next(f for f in run["files"] if f["type"] == "settlementSummary")
    assert "_0000000000000000000_000.csv" in summary["name"]
    total = read_report((data / summary["path"]).read_bytes())[1]
    assert [(r["summaryType"], r["count"], r["settlementAmountValue"]) for r in total] == [
        ("TOTAL", "0", "0")
    ]
    # Saturday settles nothing when weekends are not working days.
    sat = gw.http.post("/_emulator/reconciliation/run", json={"date": "2090-03-16"}).json()
    assert sat["settlementDate"] == "2090-03-17"


def test_default_empty_days_write_nothing_and_reset_clears_reports(gateway: Gateway) -> None:
    run = gateway.http.post("/_emulator/reconciliation/run", json={"date": T}).json()
    assert run["files"] == []
    clock(gateway, f"{T}T12:00:00+08:00")
    pay(gateway, "RESET-1", 1000)
    assert gateway.http.post("/_emulator/reconciliation/run", json={"date": T}).json()["files"]
    assert files(gateway)
    assert gateway.http.post("/_emulator/reset").status_code == 200
    assert files(gateway) == {}
    assert not (gateway_data(gateway) / "v1" / "settlements").exists()


def test_resetting_one_application_rewrites_only_its_reports(gateway: Gateway) -> None:
    usd = gateway.app()
    jpy = next(a for a in gateway.sandbox["applications"] if a["testCurrency"] == "JPY")
    clock(gateway, f"{T}T12:00:00+08:00")
    pay(gateway, "SCOPED-USD", 1000)
    pay(gateway, "SCOPED-JPY", 500, app=jpy)
    clock(gateway, f"{next_day(T)}T03:00:00+08:00")
    before = files(gateway)
    jpy_files = {p for p in before if f"/{jpy['customerId']}/" in p}
    assert len(jpy_files) == 3 and len(before) == 6
    data = gateway_data(gateway)
    kept = {p: (data / p).read_bytes() for p in jpy_files}
    r = gateway.http.post("/_emulator/reset", params={"clientId": usd["clientId"]})
    assert r.status_code == 200, r.text
    assert set(files(gateway)) == jpy_files
    assert {p: (data / p).read_bytes() for p in jpy_files} == kept


def test_download_is_confined_to_finished_reports(gateway: Gateway) -> None:
    clock(gateway, f"{T}T12:00:00+08:00")
    pay(gateway, "DL-1", 1000)
    gateway.http.post("/_emulator/reconciliation/run", json={"date": T})
    data = gateway_data(gateway)
    tmp = data / items_path(gateway, T)
    shutil.copy(tmp, tmp.with_name(tmp.name + ".tmp"))
    assert all(not p.endswith(".tmp") for p in files(gateway))
    for path in (
        items_path(gateway, T) + ".tmp",
        "emulator.db",
        "tls/ca-key.pem",
        "%2e%2e/%2e%2e/emulator.db",
        f"{folder(gateway, T)}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/emulator.db",
        f"v1/settlements/..%2f..%2f..%2femulator.db/{T.replace('-', '')}/x.csv",
        "v1/settlements/1/20900314/transactionItems_20900314_000.csv",
    ):
        r = gateway.http.get(f"/_emulator/reconciliation/files/{path}")
        assert r.status_code == 404, (path, r.status_code)


def test_the_control_api_needs_the_admin_token(tmp_path: Path) -> None:
    for gw in _app(tmp_path, admin_token="s3cret"):
        r = gw.http.post("/_emulator/reconciliation/run", json={"date": T})
        assert r.status_code == 401
        assert gw.http.get("/_emulator/reconciliation/files").status_code == 401
        ok = gw.http.get("/_emulator/reconciliation/files", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_cli_reconcile(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    clock(gateway, f"{T}T12:00:00+08:00")
    paid = pay(gateway, "CLI-1", 1500)
    data = gateway_data(gateway)
    app = gateway.app()
    code = main(
        [
            "reconcile",
            "--date",
            T,
            "--client-id",
            app["clientId"],
            "--data-dir",
            str(data),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["date"] == T and {f["customerId"] for f in out["files"]} == {app["customerId"]}
    rows = read_report((data / items_path(gateway, T)).read_bytes())[1]
    assert rows[0]["transactionId"] == paid["paymentId"]
    with pytest.raises(SystemExit) as exit_info:
        main(["reconcile", "--date", "tomorrow", "--data-dir", str(data)])
    assert exit_info.value.code == 2


def _fixtures_settling_jpy_in_usd(tmp_path: Path) -> Path:
    target = tmp_path / "fixtures"
    shutil.copytree(bundled_fixtures(), target)
    toml = target / "sandbox.toml"
    text = toml.read_text()
    marker = 'test_currency = "JPY"\n'
    assert marker in text
    toml.write_text(text.replace(marker, marker + 'settlement_currency = "USD"\n', 1))
    return target


def test_settlement_in_another_currency_uses_the_configured_quote(tmp_path: Path) -> None:
    fixtures = _fixtures_settling_jpy_in_usd(tmp_path)
    for gw in _app(tmp_path, fixtures=fixtures, reconciliation_fx_quotes="USD/JPY=150"):
        jpy = next(a for a in gw.sandbox["applications"] if a["testCurrency"] == "JPY")
        clock(gw, f"{T}T12:00:00+08:00")
        paid = pay(gw, "FX-1", 1234, app=jpy)
        refunded = refund(gw, "FX-R1", paid["paymentId"], 234, app=jpy)
        run = gw.http.post(
            "/_emulator/reconciliation/run", json={"date": T, "clientId": jpy["clientId"]}
        ).json()
        by_type = {f["type"]: f["path"] for f in run["files"]}
        assert "settlementItems_USD_" in by_type["settlementItems"]
        rows = report(gw, by_type["settlementItems"])
        assert [
            (
                r["transactionAmountValue"],
                r["transactionCurrency"],
                r["settlementAmountValue"],
                r["settlementCurrency"],
                r["quoteCurrencyPair"],
                r["quotePrice"],
                r["feeAmountValue"],
                r["feeCurrency"],
            )
            for r in rows
        ] == [
            ("1234", "JPY", "813", "USD", "USD/JPY", "150", "10", "USD"),
            # A refund is not charged the fee again (the 2024 sample: fee 0).
            ("-234", "JPY", "-156", "USD", "USD/JPY", "150", "0", "USD"),
        ]
        # Issue #12 item 7: the API answers carry the same gross amounts, to the minor unit:
        # settlementAmountValue = grossSettlementAmount - fee for the payment, -gross for the refund.
        quote = {"quoteCurrencyPair": "USD/JPY", "quotePrice": 150.0}
        pay_gross = {"currency": "USD", "value": str(int(rows[0]["settlementAmountValue"]) + 10)}
        refund_gross = {"currency": "USD", "value": str(-int(rows[1]["settlementAmountValue"]))}
        inquiry = gw.call("inquiryPayment", {"paymentId": paid["paymentId"]}, app=jpy)
        inquiry_refund = gw.call("inquiryRefund", {"refundId": refunded["refundId"]}, app=jpy)
        for answer, gross in [
            (paid, pay_gross),
            (inquiry, pay_gross),
            (refunded, refund_gross),
            (inquiry_refund, refund_gross),
        ]:
            assert answer["grossSettlementAmount"] == gross, answer
            assert answer["settlementQuote"] == quote, answer
        # Settled in the transaction currency: no settlement fields.
        usd = pay(gw, "FX-USD", 500)
        assert "grossSettlementAmount" not in usd and "settlementQuote" not in usd


def test_a_settlement_currency_without_a_quote_fails_at_start(tmp_path: Path) -> None:
    fixtures = _fixtures_settling_jpy_in_usd(tmp_path)
    app = create_app(
        Settings(
            data_dir=tmp_path / "data",
            tls_port=0,
            sftp_port=0,
            fixtures=fixtures,
            reconciliation_fx_quotes="",
        )
    )
    with pytest.raises(QuoteError, match="USD/JPY"), TestClient(app):
        pass
