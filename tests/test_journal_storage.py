"""The journal's stored form: what ``record`` writes reads back as the entry it was given."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pytest

from emulator.journal import Diagnosis, Journal, JournalEntry, _entry, _stored
from emulator.storage import Database, SequenceBlocks


@dataclass
class _Nested:
    name: str
    count: int


def _sample(diagnosis: Diagnosis | None) -> JournalEntry:
    return JournalEntry(
        id=7,
        time="2026-12-03T10:00:00+08:00",
        client_id="SANDBOX_X",
        method="POST",
        path="/ams/sandbox/api/v1/payments/pay",
        headers={"client-id": "SANDBOX_X", "signature": "algorithm=RSA256,keyVersion=1,signature=a%2Bb"},
        body='{"paymentRequestId":"PR-1","note":"café"}',
        http_status=200,
        result_code="SUCCESS",
        result_status="S",
        latency_ms=1.25,
        diagnosis=diagnosis,
        extra={
            "response": {"httpStatus": 200, "headers": {"content-type": "application/json"}, "body": "{}"},
            "answer": {"paymentId": "2026", "delivered": True},
            "nested": _Nested("x", 2),
        },
    )


@pytest.mark.parametrize(
    "diagnosis",
    [None, Diagnosis(check="signature", message="bad", verified_string="POST /x\n", key_version="2")],
)
def test_the_stored_form_is_asdict_and_reads_back(diagnosis: Diagnosis | None) -> None:
    entry = _sample(diagnosis)
    stored = _stored(entry)
    assert set(stored) == {f.name for f in fields(JournalEntry)}
    data = json.dumps(stored, default=lambda v: asdict(v))
    assert json.loads(data) == json.loads(json.dumps(asdict(entry)))
    back = _entry(json.dumps(stored, default=lambda v: asdict(v)))
    assert back.diagnosis == diagnosis
    assert back.extra["nested"] == {"name": "x", "count": 2}
    assert back.public()["answer"] == {"paymentId": "2026", "delivered": True}


def test_record_stores_a_nested_dataclass_and_refuses_what_is_not_json(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'j.db'}")
    db.create_schema()
    journal = Journal(size=10, db=db, sequences=SequenceBlocks(db))
    entry_id = journal.record(_sample(None))
    (kept,) = journal.list()
    assert kept.id == entry_id and kept.extra["nested"] == {"name": "x", "count": 2}
    odd = _sample(None)
    odd.extra["odd"] = object()
    with pytest.raises(TypeError, match="not JSON"):
        journal.record(odd)
