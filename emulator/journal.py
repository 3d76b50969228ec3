"""The request journal: a bounded, newest-first record of gateway calls with diagnoses.

With a database (every running emulator) entries are rows shared by every process on it:
``record`` hands out the id at once (from a reserved block, unique across processes) and keeps
the entry in a small buffer that ``flush`` writes in one transaction; the emulator flushes twice
a second, when the buffer grows past ``FLUSH_ENTRIES`` / ``FLUSH_BYTES``, and before every read,
so a process always sees its own calls and the others' within a second. A full buffer is written
on the journal's own thread, not by the gateway call that filled it (the write is mostly SQLite,
which runs without the GIL beside the event loop); only a buffer grown to ``BEHIND_FACTOR`` times
the bound while that thread is still busy is written by the caller (memory stays bounded).

Bounds (issue #14 item 8, hostile input): every stored field is cut (``bounded``: body and the
verified string to ``MAX_BODY_CHARS``, at most ``MAX_HEADERS`` headers of ``MAX_HEADER_CHARS``),
at most ``size`` entries per client ID and ``size * TOTAL_FACTOR`` in all (client IDs are the
caller's choice), and a read answers one page of at most ``MAX_PAGE`` entries.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, delete, func, select
from sqlmodel import Field, SQLModel

from . import compactjson
from .clock import GMT8
from .hotsql import Raw, Statement
from .storage import Database, SequenceBlocks

MAX_BODY_CHARS = 64 * 1024
MAX_HEADERS = 64
MAX_HEADER_CHARS = 4096
MAX_TEXT_CHARS = 4096  # path, client ID, diagnosis message and the like
MAX_PAGE = 200
TOTAL_FACTOR = 10
FLUSH_ENTRIES = 256
FLUSH_BYTES = 4 * 1024 * 1024
BEHIND_FACTOR = 4
_CUT = "...[cut by the emulator]"


@dataclass(slots=True)
class Diagnosis:
    """Why a call was refused; for signatures, what exactly was verified."""

    check: str
    message: str
    verified_string: str | None = None
    key_version: str | None = None
    differs: str | None = None


@dataclass(slots=True)
class JournalEntry:
    id: int
    time: str
    client_id: str
    method: str
    path: str
    headers: dict[str, str]
    body: str
    http_status: int = 200
    result_code: str | None = None
    result_status: str | None = None
    latency_ms: float = 0.0
    diagnosis: Diagnosis | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        out: dict[str, Any] = {
            "id": d["id"],
            "time": d["time"],
            "clientId": d["client_id"],
            "method": d["method"],
            "path": d["path"],
            "headers": d["headers"],
            "body": d["body"],
            "httpStatus": d["http_status"],
            "resultCode": d["result_code"],
            "resultStatus": d["result_status"],
            "latencyMs": round(d["latency_ms"], 3),
        }
        if self.diagnosis is not None:
            diag = self.diagnosis
            out["diagnosis"] = {
                "check": diag.check,
                "message": diag.message,
                "verifiedString": diag.verified_string,
                "keyVersion": diag.key_version,
                "differs": diag.differs,
            }
        out.update(self.extra)
        return out


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + _CUT


def bounded(entry: JournalEntry) -> JournalEntry:
    """The entry with every field it keeps cut to its bound (in place)."""
    entry.client_id = _cut(entry.client_id, 256) or ""
    entry.method = _cut(entry.method, 16) or ""
    entry.path = _cut(entry.path, MAX_TEXT_CHARS) or ""
    entry.body = _cut(entry.body, MAX_BODY_CHARS) or ""
    headers = list(entry.headers.items())
    entry.headers = {k[:256]: _cut(v, MAX_HEADER_CHARS) or "" for k, v in headers[:MAX_HEADERS]}
    if len(headers) > MAX_HEADERS:
        entry.headers["x-emulator-note"] = f"{len(headers) - MAX_HEADERS} more headers not kept"
    if entry.diagnosis is not None:
        d = entry.diagnosis
        d.message = _cut(d.message, MAX_TEXT_CHARS) or ""
        d.verified_string = _cut(d.verified_string, MAX_BODY_CHARS + MAX_TEXT_CHARS)
        d.differs = _cut(d.differs, MAX_TEXT_CHARS)
        d.key_version = _cut(d.key_version, 64)
    entry.extra = {k: _cut(v, MAX_TEXT_CHARS) if isinstance(v, str) else v for k, v in entry.extra.items()}
    return entry


class JournalRow(SQLModel, table=True):
    """One journal entry: the columns the filters need, the rest as JSON."""

    __tablename__ = "journal"
    __table_args__ = (Index("ix_journal_client_pos", "client_id", "pos"),)

    pos: int | None = Field(default=None, primary_key=True)  # insertion order (newest = largest)
    id: int = Field(unique=True)  # the entry's id, known when recorded
    client_id: str = Field(max_length=300)
    path: str = ""
    result_code: str | None = Field(default=None, max_length=128)
    data: str = "{}"


_ROWS = JournalRow.__table__  # type: ignore[attr-defined]
# A flush runs on the driver's connection (emulator.hotsql): it writes every gateway call, and
# SQLAlchemy's execute machinery cost more than these statements take (issue #15).
_INSERT = Statement("INSERT INTO journal (id, client_id, path, result_code, data) VALUES (?, ?, ?, ?, ?)")
# Everything of a client older than its newest ``n``, then of all clients older than the newest
# ``n`` in all (the subquery is empty, and nothing goes, while fewer are kept).
_PRUNE_CLIENT = Statement(
    "DELETE FROM journal WHERE client_id = :c AND pos <= "
    "(SELECT pos FROM journal WHERE client_id = :c ORDER BY pos DESC LIMIT 1 OFFSET :n)"
)
_PRUNE_ALL = Statement(
    "DELETE FROM journal WHERE pos <= (SELECT pos FROM journal ORDER BY pos DESC LIMIT 1 OFFSET :n)"
)
_Pending = tuple[int, str, str, str | None, str]  # _INSERT's values


def _stored(entry: JournalEntry) -> dict[str, Any]:
    """What ``_entry`` reads back: ``asdict(entry)`` without its deep copy (about 35 µs a call
    on the gateway's hot path, 4x the JSON encoding that follows; issue #15). The entry's dicts
    are serialised as they are; a dataclass nested in ``extra`` goes through ``_plain``."""
    diagnosis = entry.diagnosis
    return {
        "id": entry.id,
        "time": entry.time,
        "client_id": entry.client_id,
        "method": entry.method,
        "path": entry.path,
        "headers": entry.headers,
        "body": entry.body,
        "http_status": entry.http_status,
        "result_code": entry.result_code,
        "result_status": entry.result_status,
        "latency_ms": entry.latency_ms,
        "diagnosis": None if diagnosis is None else asdict(diagnosis),
        "extra": entry.extra,
    }


def _plain(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} in a journal entry is not JSON")


def _entry(data: str) -> JournalEntry:
    d = json.loads(data)
    diagnosis = d.pop("diagnosis", None)
    return JournalEntry(**d, diagnosis=Diagnosis(**diagnosis) if diagnosis else None)


# Inside ``Journal`` the name ``list`` is the method: annotations there use this alias.
Entries = list[JournalEntry]


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[JournalEntry]
    next: str | None  # the cursor of the following (older) page, None on the last


class Journal:
    def __init__(
        self,
        *,
        size: int,
        enabled: bool = True,
        db: Database | None = None,
        sequences: SequenceBlocks | None = None,
    ) -> None:
        self.enabled = enabled
        self.size = size
        self._db = db
        self._sequences = sequences
        self._entries: deque[JournalEntry] = deque(maxlen=size)  # without a database only
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._next_id = 1
        self._writer: ThreadPoolExecutor | None = None  # started on the first full buffer
        self._writing: Future[None] | None = None
        self._closed = False

    def record(self, entry: JournalEntry) -> int:
        if self._sequences is not None:
            entry.id = self._sequences.next("journal")
        else:
            with self._lock:
                entry.id = self._next_id
                self._next_id += 1
        if not self.enabled:
            return entry.id
        bounded(entry)
        if self._db is None:
            with self._lock:
                self._entries.append(entry)
            return entry.id
        data = compactjson.dumps_text(_stored(entry), default=_plain)
        row = (entry.id, entry.client_id, entry.path, _cut(entry.result_code, 100), data)
        with self._lock:
            self._pending.append(row)
            self._pending_bytes += len(data)
            over = max(len(self._pending) / FLUSH_ENTRIES, self._pending_bytes / FLUSH_BYTES)
            if over < 1:
                return entry.id
            busy = self._writing is not None and not self._writing.done()
            here = self._closed or (busy and over >= BEHIND_FACTOR)
            if not busy and not here:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(1, thread_name_prefix="journal")
                self._writing = self._writer.submit(self._flush_logged)
        if here:
            self.flush()  # closed, or the journal's thread is behind: written by this caller
        return entry.id

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:  # nobody waits for this write: say it failed (the entries are lost)
            logging.getLogger("emulator").exception("could not write journal entries")

    def close(self) -> None:
        """Wait for the journal's thread, then write what is left (the runtime's last step)."""
        with self._lock:
            writer, self._writer, self._closed = self._writer, None, True
        if writer is not None:
            writer.shutdown(wait=True)
        self.flush()

    def flush(self) -> None:
        """Write the buffered entries and trim what is over the bounds (one transaction)."""
        if self._db is None:
            return
        with self._flush_lock:
            with self._lock:
                rows, self._pending, self._pending_bytes = self._pending, [], 0
            if not rows:
                return
            clients = sorted({r[1] for r in rows})

            def work(raw: Raw) -> None:
                raw.executemany(_INSERT, rows)
                for c in clients:
                    raw.execute(_PRUNE_CLIENT, {"c": c, "n": self.size})
                raw.execute(_PRUNE_ALL, {"n": self.size * TOTAL_FACTOR})

            self._db.hot_transaction(work)

    def page(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Newest first; ``cursor`` is a previous page's ``next``. ``limit`` is cut to MAX_PAGE."""
        limit = max(1, min(limit, MAX_PAGE))
        if not self.enabled:
            return Page([], None)
        if self._db is None:
            entries = self.list(client_id=client_id, path=path, result_code=result_code, limit=limit)
            return Page(entries, None)
        self.flush()
        query = select(_ROWS.c.pos, _ROWS.c.data).order_by(_ROWS.c.pos.desc()).limit(limit + 1)
        if client_id:
            query = query.where(_ROWS.c.client_id == client_id)
        if path:
            query = query.where(_ROWS.c.path.contains(path, autoescape=True))
        if result_code:
            query = query.where(_ROWS.c.result_code == result_code)
        if cursor:
            if not cursor.isdigit():
                raise ValueError("cursor must be the 'next' value of a previous page")
            query = query.where(_ROWS.c.pos < int(cursor))
        with self._db.read_connection() as conn:
            rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_entry(r.data) for r in rows], str(rows[-1].pos) if more else None)

    def since(self, *, client_id: str, after_id: int, limit: int = 1000) -> list[JournalEntry]:
        """The client's entries recorded after the mark ``after_id`` (from ``last_id``), oldest
        first (acceptance grading). With a database the mark is a position in recording order,
        not an entry id: ids come from per-process blocks, positions from one shared sequence."""
        if self._db is None:
            with self._lock:
                entries = [e for e in self._entries if e.id > after_id and e.client_id == client_id]
            return entries[:limit]
        self.flush()
        query = (
            select(_ROWS.c.data)
            .where(_ROWS.c.client_id == client_id, _ROWS.c.pos > after_id)
            .order_by(_ROWS.c.pos)
            .limit(limit)
        )
        with self._db.read_connection() as conn:
            return [_entry(data) for data in conn.execute(query).scalars()]

    def last_id(self) -> int:
        """A mark for ``since``: the newest entry recorded so far (0 before the first)."""
        if self._db is None:
            with self._lock:
                return self._next_id - 1
        self.flush()
        with self._db.read_connection() as conn:
            return int(conn.execute(select(func.coalesce(func.max(_ROWS.c.pos), 0))).scalar_one())

    def _newest_first(self, *, client_id: str | None, result_code: str | None) -> Iterator[JournalEntry]:
        """Every kept entry, newest first, narrowed in SQL where a column allows it."""
        if self._db is None:
            with self._lock:
                entries = list(self._entries)
            yield from reversed(entries)
            return
        self.flush()
        query = select(_ROWS.c.data).order_by(_ROWS.c.pos.desc()).limit(self.size * TOTAL_FACTOR)
        if client_id:
            query = query.where(_ROWS.c.client_id == client_id)
        if result_code:
            query = query.where(_ROWS.c.result_code == result_code)
        with self._db.read_connection() as conn:
            rows = conn.execute(query).scalars().all()
        for data in rows:
            yield _entry(data)

    def list(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
    ) -> list[JournalEntry]:
        if self._db is not None:
            return self.page(client_id=client_id, path=path, result_code=result_code, limit=limit).entries
        with self._lock:
            entries = list(self._entries)
        out: list[JournalEntry] = []
        for e in reversed(entries):
            if client_id and e.client_id != client_id:
                continue
            if path and path not in e.path:
                continue
            if result_code and e.result_code != result_code:
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out

    def search(
        self,
        *,
        client_id: str | None = None,
        api: str | None = None,
        result_code: str | None = None,
        refused: bool = False,
        since: str | None = None,
        until: str | None = None,
        after_id: int | None = None,
        body_contains: Sequence[str] = (),
        limit: int = 100,
    ) -> Entries:
        """Newest first, every filter optional: ``api`` is the path's last segment (``pay``),
        ``refused`` keeps calls the emulator explained (a diagnosis), ``since``/``until`` are
        ISO-8601 instants compared on the emulator clock, ``body_contains`` keeps entries whose
        body holds any of the strings (a payment's ids, for its timeline)."""
        lower = _instant(since)
        upper = _instant(until)
        out: list[JournalEntry] = []
        for e in self._newest_first(client_id=client_id, result_code=result_code):
            if client_id and e.client_id != client_id:
                continue
            if api and e.path.rsplit("/", 1)[-1] != api:
                continue
            if result_code and e.result_code != result_code:
                continue
            if refused and e.diagnosis is None:
                continue
            if after_id is not None and e.id <= after_id:
                continue
            if lower is not None or upper is not None:
                at = _instant(e.time)
                if at is None or (lower is not None and at < lower) or (upper is not None and at > upper):
                    continue
            if body_contains and not any(s and s in e.body for s in body_contains):
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out

    def get(self, entry_id: int) -> JournalEntry | None:
        if self._db is not None:
            self.flush()
            with self._db.read_connection() as conn:
                data = conn.execute(select(_ROWS.c.data).where(_ROWS.c.id == entry_id)).scalar()
            return _entry(data) if data is not None else None
        with self._lock:
            return next((e for e in self._entries if e.id == entry_id), None)

    def count(self) -> int:
        if self._db is None:
            return len(self._entries)
        self.flush()
        with self._db.read_connection() as conn:
            return int(conn.execute(select(func.count()).select_from(_ROWS)).scalar_one())

    def clear(self, *, client_id: str | None = None) -> None:
        # Under the flush lock: a write in progress lands before the delete, never after it.
        with self._flush_lock:
            self._clear(client_id)

    def _clear(self, client_id: str | None) -> None:
        with self._lock:
            if client_id is None:
                self._pending, self._pending_bytes = [], 0
                self._entries.clear()
            else:
                self._pending = [r for r in self._pending if r[1] != client_id]
                kept = [e for e in self._entries if e.client_id != client_id]
                self._entries.clear()
                self._entries.extend(kept)
        if self._db is not None:
            stmt = delete(_ROWS) if client_id is None else delete(_ROWS).where(_ROWS.c.client_id == client_id)
            self._db.transaction_connection(lambda conn: conn.execute(stmt))


def _instant(value: str | None) -> datetime | None:
    """An ISO-8601 text as an aware datetime; None when empty or unreadable. Without an offset it
    is read in GMT+8, the zone every page shows the emulator clock in."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=GMT8)
