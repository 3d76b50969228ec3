"""The request journal: a bounded, newest-first record of gateway calls with diagnoses."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .clock import GMT8

MAX_BODY_CHARS = 64 * 1024


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


Entries = list[JournalEntry]


class Journal:
    def __init__(self, *, size: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._next_id = 1

    def record(self, entry: JournalEntry) -> int:
        with self._lock:
            entry.id = self._next_id
            self._next_id += 1
            if self.enabled:
                self._entries.append(entry)
            return entry.id

    def since(self, *, client_id: str, after_id: int, limit: int = 1000) -> list[JournalEntry]:
        """The client's entries with an id above ``after_id``, oldest first (acceptance grading)."""
        with self._lock:
            entries = [e for e in self._entries if e.id > after_id and e.client_id == client_id]
        return entries[:limit]

    def last_id(self) -> int:
        """The id of the newest entry recorded so far (0 before the first)."""
        with self._lock:
            return self._next_id - 1

    def list(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
    ) -> list[JournalEntry]:
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
        with self._lock:
            entries = list(self._entries)
        out: list[JournalEntry] = []
        for e in reversed(entries):
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
        with self._lock:
            return next((e for e in self._entries if e.id == entry_id), None)

    def clear(self, *, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.client_id != client_id]
                self._entries.clear()
                self._entries.extend(kept)


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
