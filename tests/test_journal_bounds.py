"""The journal under hostile input: every entry bounded, answers paged, memory flat (#14 item 8)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.journal import MAX_BODY_CHARS, MAX_HEADERS, Diagnosis, JournalEntry, bounded
from emulator.settings import Settings
from emulator.testing import EmulatorClient

from .support import EmulatorProcess

# The stated bound: 1,000 one-megabyte requests with a bad signature may grow the serving
# process by at most this much (it grew by about 1 GB when the journal kept the verified string).
RSS_GROWTH_BOUND_MB = 80


def test_every_field_an_entry_keeps_is_bounded() -> None:
    huge = "x" * (2 * 1024 * 1024)
    entry = JournalEntry(
        id=1,
        time="t",
        client_id=huge,
        method="POST",
        path="/" + huge,
        headers={f"h{i}": huge for i in range(500)},
        body=huge,
        diagnosis=Diagnosis(check="signature", message=huge, verified_string=huge, differs=huge),
        extra={"transport": huge},
    )
    kept = len(json.dumps(bounded(entry).public()))
    assert kept < 2 * MAX_BODY_CHARS + MAX_HEADERS * 4200 + 40_000
    assert entry.diagnosis is not None and entry.diagnosis.verified_string is not None
    assert entry.diagnosis.verified_string.endswith("[cut by the emulator]")
    assert len(entry.headers) == MAX_HEADERS + 1  # and a note saying how many were left out


def test_journal_answers_page_with_a_cursor(settings: Settings) -> None:
    with TestClient(create_app(settings)) as http:
        app = http.get("/_emulator/sandbox").json()["applications"][0]
        for i in range(7):
            http.post(
                "/ams/api/v1/payments/inquiryPayment",
                content=json.dumps({"paymentRequestId": f"page-{i}"}),
                headers={"content-type": "application/json", "client-id": app["clientId"]},
            )
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = http.get("/_emulator/requests", params=params).json()
            seen += [json.loads(e["body"])["paymentRequestId"] for e in page["requests"]]
            cursor = page.get("next")
            if cursor is None:
                break
        assert seen == [f"page-{i}" for i in reversed(range(7))]
        assert http.get("/_emulator/requests", params={"limit": 201}).status_code == 422
        assert http.get("/_emulator/requests", params={"cursor": "abc"}).status_code == 422


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_memory_stays_flat_under_1000_megabyte_requests_with_bad_signatures(tmp_path: Path) -> None:
    proc = EmulatorProcess(tmp_path / "data", tls_port=0).start()
    try:
        assert proc.proc is not None
        with EmulatorClient(proc.http_url) as control:
            app = control.sandbox()["applications"][0]
        body = json.dumps({"paymentRequestId": "R", "pad": "a" * 1_000_000}).encode()
        headers = {
            "content-type": "application/json; charset=UTF-8",
            "client-id": app["clientId"],
            "request-time": str(int(time.time() * 1000)),
            "signature": "algorithm=RSA256,keyVersion=1,signature=bm90LWEtc2lnbmF0dXJl",
        }
        url = f"{proc.http_url}/ams/api/v1/payments/inquiryPayment"
        with httpx.Client(timeout=30) as http:
            for _ in range(50):  # warm up: pools, caches, first journal flush
                assert http.post(url, content=body, headers=headers).json()["result"]["resultStatus"] == "F"
            before = _rss_mb(proc.proc.pid)
            for _ in range(1000):
                answer = http.post(url, content=body, headers=headers).json()
                assert answer["result"]["resultCode"] == "INVALID_SIGNATURE"
            after = _rss_mb(proc.proc.pid)
            page = http.get(f"{proc.http_url}/_emulator/requests", params={"limit": 200})
        assert after - before < RSS_GROWTH_BOUND_MB, (before, after)
        assert len(page.json()["requests"]) == 200
        assert len(page.content) < 200 * (3 * MAX_BODY_CHARS)
        print(f"RSS before {before:.0f} MB, after 1000 hostile requests {after:.0f} MB")
    finally:
        proc.stop()
