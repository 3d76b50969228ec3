"""The report files' shape: columns, names, folder layout, amounts, and atomic CSV writing.

Spec §6.2-6.4: UTF-8 CSV, header row in the documented sample order, one record per line,
the literal ``<END>`` as the last line; files live in
``v1/settlements/<customerId>/<yyyyMMdd>/`` (transaction date for transaction details,
settlement date for settlement files).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import IO

from ..amounts import to_major

# Spec §6.4, transaction details sample header (2023 in-store/cashier and reconcile pages).
TRANSACTION_ITEMS_COLUMNS: tuple[str, ...] = (
    "customerId", "acquirer", "acquirerReferenceNo", "referenceMerchantId", "referenceStoreId",
    "transactionId", "originalTransactionId", "transactionRequestId", "referenceTransactionId",
    "orderDescription", "paymentMethodType", "pspName", "transactionType", "paymentTime",
    "productCode", "transactionAmountValue", "transactionCurrency", "originalTransactionRequestId",
    "issuingCountry", "cardBrand", "funding",
)  # fmt: skip

# Spec §6.4, settlement details 2024 sample header, verbatim: including the column with an
# empty name before refundFeeAmountValue and the spelling "installmentNum".
SETTLEMENT_ITEMS_COLUMNS: tuple[str, ...] = (
    "settlementBatchId", "acquirer", "customerId", "acquirerReferenceNo", "referenceMerchantId",
    "referenceStoreId", "transactionId", "originalTransactionId", "transactionRequestId",
    "referenceTransactionId", "paymentMethodType", "pspName", "transactionType", "paymentTime",
    "settlementTime", "productCode", "transactionAmountValue", "transactionCurrency",
    "settlementAmountValue", "settlementCurrency", "quoteCurrencyPair", "quotePrice",
    "feeAmountValue", "feeCurrency", "processingFeeAmountValue", "processingFeeCurrency",
    "nonGuaranteeCouponValue", "nonGuaranteeCouponCurrency", "originalTransactionRequestId",
    "disputeHandlingFee", "disputeHandlingFeeCurrency", "disputeReverseFee",
    "disputeReverseFeeCurrency", "installmentNum", "issuingCountry", "cardBrand", "funding",
    "interchangeFeeAmountValue", "interchangeFeeCurrency", "schemeFeeAmountValue",
    "schemeFeeCurrency", "acquirerMarkupAmountValue", "acquirerMarkupCurrency", "",
    "refundFeeAmountValue", "refundFeeCurrency", "region",
)  # fmt: skip

# Spec §6.4, settlement summary sample header.
SETTLEMENT_SUMMARY_COLUMNS: tuple[str, ...] = (
    "settlementBatchId", "customerId", "acquirer", "summaryType", "settlementTime", "count",
    "settlementAmountValue", "settlementCurrency", "feeAmountValue", "feeCurrency",
    "processingFeeAmountValue", "processingFeeCurrency", "nonGuaranteeCouponValue",
    "nonGuaranteeCouponCurrency", "disputeHandlingFee", "disputeHandlingFeeCurrency",
    "disputeReverseFee", "disputeReverseFeeCurrency", "interchangeFeeAmountValue",
    "interchangeFeeCurrency", "schemeFeeAmountValue", "schemeFeeCurrency",
    "acquirerMarkupAmountValue", "acquirerMarkupCurrency", "refundFeeAmountValue",
    "refundFeeCurrency",
)  # fmt: skip

END = "<END>"
SEQ = "000"  # one file per day and batch: seq is always 000 (spec §6.2 allows 000-999)
# Spec §6.2: "empty period batch id shown as 0000000000000000000".
EMPTY_BATCH_ID = "0" * 19
ROOT = ("v1", "settlements")
TMP_SUFFIX = ".tmp"  # spec §6.1: files are written as .tmp and renamed on completion

TRANSACTION_ITEMS = "transactionItems"
SETTLEMENT_ITEMS = "settlementItems"
SETTLEMENT_SUMMARY = "settlementSummary"

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FILE_NAME = re.compile(r"^(?P<type>transactionItems|settlementItems|settlementSummary)_[A-Za-z0-9_]+\.csv$")


def ymd(day: date) -> str:
    return f"{day:%Y%m%d}"


def parse_day(text: str) -> date:
    """A date as ``YYYY-MM-DD`` (or ``yyyyMMdd``, the folder names' form); ValueError otherwise."""
    value = text.strip()
    try:
        if len(value) == 8 and value.isdigit():
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}")


def transaction_items_name(day: date) -> str:
    return f"{TRANSACTION_ITEMS}_{ymd(day)}_{SEQ}.csv"


def settlement_items_name(currency: str, batch_id: str) -> str:
    return f"{SETTLEMENT_ITEMS}_{currency}_{batch_id}_{SEQ}.csv"


def settlement_summary_name(currency: str, batch_id: str) -> str:
    return f"{SETTLEMENT_SUMMARY}_{currency}_{batch_id}_{SEQ}.csv"


def report_type(name: str) -> str | None:
    """``transactionItems`` / ``settlementItems`` / ``settlementSummary`` for a report file name."""
    match = _FILE_NAME.match(name)
    return match.group("type") if match else None


def reports_root(data_dir: Path) -> Path:
    return data_dir.joinpath(*ROOT)


def customer_folder(data_dir: Path, customer_id: str) -> Path:
    if not _CUSTOMER_ID.match(customer_id):
        raise ValueError(f"customer id {customer_id!r} cannot name a report folder")
    return reports_root(data_dir) / customer_id


def day_folder(data_dir: Path, customer_id: str, day: date) -> Path:
    return customer_folder(data_dir, customer_id) / ymd(day)


class AmountFormat:
    """Spec §9 U10: minor units like the API's ``Amount.value`` (default), or major units."""

    def __init__(self, *, major_units: bool) -> None:
        self.major_units = major_units

    def __call__(self, currency: str, minor: int) -> str:
        if not self.major_units:
            return str(minor)
        return f"{to_major(currency, minor):f}"


class ReportWriter:
    """One report file, written row by row to ``<name>.tmp`` and renamed into place on close.

    Readers (the SFTP drop, HTTP downloads) never see a half-written file under the final name.
    If the writer is left by an exception, the partial ``.tmp`` is removed instead.
    """

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.rows = 0
        self._tmp = path.with_name(path.name + TMP_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = self._tmp.open("w", encoding="utf-8", newline="")
        # No quoting unless a value needs it (samples show none; a comma in an order
        # description still must not shift the columns). "\n" line ends, no trailing newline
        # after <END>, so the last line read by any line splitter is exactly "<END>".
        self._csv = csv.writer(self._file, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        self._csv.writerow(columns)

    def write(self, row: Sequence[str]) -> None:
        self._csv.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._file.write(END)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
