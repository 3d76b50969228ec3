"""The journal's stored form: what ``record`` writes reads back as the entry it was given."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from emulator import journal as journal_module
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


def _journal(tmp_path: Path) -> tuple[Journal, Database]:
    db = Database(f"sqlite:///{tmp_path / 'j.db'}")
    db.create_schema()
    return Journal(size=1000, db=db, sequences=SequenceBlocks(db)), db


def _stored_ids(db: Database) -> set[int]:
    with db.read_connection() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT id FROM journal")}


def _hold_journal_writes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """The journal thread's writes wait for ``release``; ``entered`` is set when one has begun."""
    entered, release = threading.Event(), threading.Event()
    real = db.hot_transaction

    def slow(work: Any) -> Any:
        if threading.current_thread().name.startswith("journal"):
            entered.set()
            assert release.wait(10)
        return real(work)

    monkeypatch.setattr(db, "hot_transaction", slow)
    return entered, release


def test_a_full_buffer_is_written_on_the_journals_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, db = _journal(tmp_path)
    monkeypatch.setattr(journal_module, "FLUSH_ENTRIES", 8)
    writers: list[str] = []
    real = journal.flush

    def spy() -> None:
        writers.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(journal, "flush", spy)
    ids = {journal.record(_sample(None)) for _ in range(8)}
    deadline = time.monotonic() + 10
    while _stored_ids(db) != ids and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _stored_ids(db) == ids
    assert writers and all(name.startswith("journal") for name in writers)
    rest = {journal.record(_sample(None)) for _ in range(3)}  # below the bound: kept pending
    journal.close()
    assert writers[-1] == threading.current_thread().name  # close writes the rest itself
    assert _stored_ids(db) == ids | rest


def test_a_caller_writes_when_the_journals_thread_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, db = _journal(tmp_path)
    monkeypatch.setattr(journal_module, "FLUSH_ENTRIES", 4)
    entered, release = _hold_journal_writes(db, monkeypatch)
    ids = {journal.record(_sample(None)) for _ in range(4)}  # the 4th starts the journal thread
    assert entered.wait(10)  # it has taken those 4 and is writing them
    timer = threading.Timer(0.3, release.set)
    timer.start()
    started = time.monotonic()
    ids |= {journal.record(_sample(None)) for _ in range(4 * journal_module.BEHIND_FACTOR)}
    waited = time.monotonic() - started
    timer.join()
    # The caller that reached BEHIND_FACTOR times the bound waited for the busy thread, then wrote.
    assert waited >= 0.25
    assert _stored_ids(db) == ids
    journal.close()


def test_clear_is_not_undone_by_a_write_in_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal, db = _journal(tmp_path)
    monkeypatch.setattr(journal_module, "FLUSH_ENTRIES", 4)
    entered, release = _hold_journal_writes(db, monkeypatch)
    for _ in range(4):
        journal.record(_sample(None))
    assert entered.wait(10)
    threading.Timer(0.2, release.set).start()
    journal.clear()  # waits for the write in progress, then deletes what it wrote
    assert _stored_ids(db) == set()
    after = journal.record(_sample(None))
    journal.close()
    assert _stored_ids(db) == {after}


def test_after_close_a_full_buffer_is_written_by_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, db = _journal(tmp_path)
    monkeypatch.setattr(journal_module, "FLUSH_ENTRIES", 2)
    journal.close()
    ids = {journal.record(_sample(None)) for _ in range(2)}
    assert _stored_ids(db) == ids
