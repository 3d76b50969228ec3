"""The report calendar, FX conversion and file formats: pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from emulator.reconciliation.formats import (
    END,
    AmountFormat,
    ReportWriter,
    customer_folder,
    parse_day,
    report_type,
    settlement_items_name,
    transaction_items_name,
)
from emulator.reconciliation.fx import QuoteError, conversion, parse_quotes
from emulator.reconciliation.schedule import Calendar, day_window, local_day
from emulator.reconciliation.service import settlement_batch_id

FRI, SAT, SUN, MON = date(2090, 3, 17), date(2090, 3, 18), date(2090, 3, 19), date(2090, 3, 20)


def test_the_day_runs_midnight_to_midnight_gmt8() -> None:
    start, end = day_window(date(2090, 3, 14))
    assert start == datetime(2090, 3, 13, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    assert local_day(end - timedelta(microseconds=1)) == date(2090, 3, 14)
    assert local_day(end) == date(2090, 3, 15)


def test_weekends_count_by_default() -> None:
    assert FRI.weekday() == 4
    cal = Calendar()
    assert cal.settlement_date(FRI) == SAT
    assert cal.transaction_days(SAT) == (FRI, FRI)


def test_without_weekends_friday_to_sunday_settle_on_monday() -> None:
    cal = Calendar(settle_weekends=False)
    for day in (FRI, SAT, SUN):
        assert cal.settlement_date(day) == MON
    assert cal.transaction_days(MON) == (FRI, SUN)
    assert cal.transaction_days(SAT) is None
    assert cal.settlement_date(MON) == MON + timedelta(days=1)


def test_t_plus_n() -> None:
    cal = Calendar(settlement_days=3, settle_weekends=False)
    tue, wed, thu = date(2090, 3, 14), date(2090, 3, 15), date(2090, 3, 16)
    assert cal.settlement_date(tue) == FRI  # Tue + 3 working days
    assert cal.settlement_date(wed) == MON
    assert cal.transaction_days(MON) == (wed, wed)
    assert cal.transaction_days(MON + timedelta(days=1)) == (thu, thu)
    assert cal.transaction_days(MON + timedelta(days=2)) == (FRI, SUN)
    for n in range(1, 31):
        c = Calendar(settlement_days=n, settle_weekends=False)
        for offset in range(14):
            day = FRI + timedelta(days=offset)
            first, last = c.transaction_days(c.settlement_date(day)) or (None, None)
            assert first is not None and last is not None and first <= day <= last
    with pytest.raises(ValueError, match="N >= 1"):
        Calendar(settlement_days=0)


def test_due_times_follow_the_delay() -> None:
    cal = Calendar(delay=timedelta(hours=2))
    just_before = datetime.fromisoformat("2090-03-15T01:59:59+08:00")
    at_two = datetime.fromisoformat("2090-03-15T02:00:00+08:00")
    assert cal.items_due_through(just_before) == date(2090, 3, 13)
    assert cal.items_due_through(at_two) == date(2090, 3, 14)
    assert cal.settlement_due_through(just_before) == date(2090, 3, 14)
    assert cal.settlement_due_through(at_two) == date(2090, 3, 15)
    assert cal.due_at(date(2090, 3, 15)) == at_two
    assert cal.last_day_settled_by(date(2090, 3, 15)) == date(2090, 3, 14)


def test_fx_quotes_parse_and_convert_half_up() -> None:
    quotes = parse_quotes("USD/JPY=150, USD/KRW=1200.0000,")
    assert quotes[("USD", "KRW")].price == Decimal("1200.0000")
    assert quotes[("USD", "KRW")].text == "1200.0000"
    # The spec's sample: 18000 KRW settles as 15.00 USD (before the fee).
    krw = conversion(quotes, source="KRW", target="USD")
    assert krw.convert(18000) == 1500
    jpy = conversion(quotes, source="JPY", target="USD")
    assert jpy.convert(1234) == 823  # 8.2266.. -> 8.23
    assert jpy.convert(75) == 50  # 0.50 exactly
    assert conversion(quotes, source="USD", target="JPY").convert(1001) == 1502  # 1501.5 -> up
    assert conversion(quotes, source="USD", target="USD").quote is None
    with pytest.raises(QuoteError, match="ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES"):
        conversion(quotes, source="HKD", target="SGD")
    for bad in ("USDJPY=1", "USD/JPY", "USD/XXX=1", "USD/JPY=0", "USD/JPY=abc", "USD/USD=1"):
        with pytest.raises(QuoteError):
            parse_quotes(bad)


def test_names_and_amounts() -> None:
    assert transaction_items_name(date(2018, 12, 25)) == "transactionItems_20181225_000.csv"
    assert (
        settlement_items_name("USD", "2018122611021040123")
        == "settlementItems_USD_2018122611021040123_000.csv"
    )
    assert report_type("settlementSummary_USD_1_000.csv") == "settlementSummary"
    assert report_type("settlementSummary_USD_1_000.csv.tmp") is None
    assert report_type("../etc/passwd") is None
    batch = settlement_batch_id(customer_id="1", currency="USD", settlement_date=date(2090, 3, 15))
    assert len(batch) == 19 and batch.startswith("20900315") and batch.isdigit()
    assert batch == settlement_batch_id(customer_id="1", currency="USD", settlement_date=date(2090, 3, 15))
    assert AmountFormat(major_units=False)("USD", -1450) == "-1450"
    assert AmountFormat(major_units=True)("USD", -1450) == "-14.50"
    assert AmountFormat(major_units=True)("USD", 10) == "0.10"
    assert AmountFormat(major_units=True)("KRW", 9000) == "9000"
    assert parse_day("2090-03-14") == parse_day("20900314") == date(2090, 3, 14)
    for bad in ("2090-3-14", "yesterday", "20901314", ""):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            parse_day(bad)
    with pytest.raises(ValueError, match="cannot name a report folder"):
        customer_folder(Path("/data"), "../tls")


def test_writer_renames_on_completion_and_cleans_up_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "a" / "transactionItems_20900314_000.csv"
    writer = ReportWriter(path, ["x", "y"])
    writer.write(["1", "a,b"])
    assert not path.exists() and path.with_name(path.name + ".tmp").exists()
    writer.close()
    assert path.read_bytes() == b'x,y\n1,"a,b"\n' + END.encode()
    assert not path.with_name(path.name + ".tmp").exists()
    broken = tmp_path / "b" / "transactionItems_20900314_000.csv"

    def fail_midway() -> None:
        with ReportWriter(broken, ["x"]) as w:
            w.write(["1"])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert list(broken.parent.iterdir()) == []
