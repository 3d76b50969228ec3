"""Runs and cases in-process: choosing cases, errors naming the field, persistence, the go-live gate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from emulator.acceptance.cases import BY_ID, CASES
from emulator.acceptance.models import AcceptanceCase
from emulator.acceptance.service import launch_blockers
from emulator.app import create_app
from emulator.runtime import Runtime
from emulator.sandbox.models import Application
from emulator.settings import Settings

from ..conftest import Gateway, pay_body

REQUIRED = {"SPOT-001", "SPOT-003", "SPOT-005", "SPOT-006", "REFUND-001", "NOTIFY-001", "OC-001"}


def _runtime(gateway: Gateway) -> Runtime:
    rt: Runtime = gateway.http.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _open(gateway: Gateway, **body: Any) -> Any:
    return gateway.http.post(
        "/_emulator/acceptance/runs", json={"clientId": gateway.app()["clientId"], **body}
    )


def test_the_table_marks_the_required_cases() -> None:
    assert {c.id for c in CASES if c.required} == REQUIRED
    assert len(BY_ID) == len(CASES) == 14


def test_a_run_has_every_case_that_fits_the_application(gateway: Gateway) -> None:
    response = _open(gateway)
    assert response.status_code == 201
    run = response.json()
    assert run["status"] == "running" and run["clientId"] == gateway.app()["clientId"]
    assert [c["id"] for c in run["cases"]] == [c.id for c in CASES]
    for case in run["cases"]:
        assert case["status"] == ("not_started" if case["needsStart"] else "waiting")
        assert case["title"] and case["instruction"] and case["expected"] and case["evidence"] == []
    with _runtime(gateway).db.write() as session:
        app = session.get(Application, gateway.app()["clientId"])
        assert app is not None
        app.scenarios = "PaymentCode"
        session.add(app)
    ids = [c["id"] for c in _open(gateway).json()["cases"]]
    assert "OC-001" not in ids and "SPOT-001" in ids
    refused = _open(gateway, cases=["OC-001"])
    assert (
        refused.status_code == 422
        and "cases" in refused.json()["error"]
        and "OrderCode" in refused.json()["error"]
    )


def test_bad_requests_name_what_is_wrong(gateway: Gateway) -> None:
    unknown = _open(gateway, cases=["SPOT-999"])
    assert unknown.status_code == 422 and "SPOT-999" in unknown.json()["error"]
    nobody = gateway.http.post("/_emulator/acceptance/runs", json={"clientId": "NOPE"})
    assert nobody.status_code == 404 and "clientId" in nobody.json()["error"]
    missing = gateway.http.post("/_emulator/acceptance/runs", json={})
    assert missing.status_code == 422
    run = _open(gateway, cases=["SPOT-005"]).json()
    assert (
        gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/cases/SPOT-001/start").status_code == 404
    )
    assert gateway.http.get("/_emulator/acceptance/runs/999").status_code == 404
    assert gateway.http.get(f"/_emulator/acceptance/runs/{run['id']}?format=xml").status_code == 422
    finished = gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/finish").json()
    [case] = finished["cases"]
    assert case["status"] == "failed" and "never started" in case["reason"]
    again = gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/cases/SPOT-005/start")
    assert again.status_code == 409 and "finished" in again.json()["error"]


def test_the_buyer_confirms_after_the_first_inquiry(gateway: Gateway) -> None:
    run = _open(gateway, cases=["SPOT-003"]).json()
    case = gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/cases/SPOT-003/start").json()
    values = case["values"]
    assert values["buyer"] == gateway.buyer("needs_verification")["loginId"] and values["paymentCode"]
    body = pay_body(values["paymentCode"], request_id="V-1")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    assert gateway.call("pay", body)["result"]["resultCode"] == "PAYMENT_IN_PROCESS"
    assert gateway.call("inquiryPayment", {"paymentRequestId": "V-1"})["paymentStatus"] == "PROCESSING"
    assert gateway.call("inquiryPayment", {"paymentRequestId": "V-1"})["paymentStatus"] == "SUCCESS"
    [graded] = gateway.http.get(f"/_emulator/acceptance/runs/{run['id']}").json()["cases"]
    assert graded["status"] == "passed" and len(graded["evidence"]) == 3
    assert {e["kind"] for e in graded["evidence"]} == {"request"}


def test_junit_of_a_running_run_skips_the_waiting_cases(gateway: Gateway) -> None:
    run = _open(gateway, cases=["SPOT-001", "SPOT-002"]).json()
    body = pay_body(gateway.code(), request_id="J-1")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    gateway.call("pay", body)
    response = gateway.http.get(f"/_emulator/acceptance/runs/{run['id']}", params={"format": "junit"})
    assert response.headers["content-type"].startswith("application/xml")
    suite = ET.fromstring(response.text)
    assert suite.get("tests") == "2" and suite.get("failures") == "0" and suite.get("skipped") == "1"
    passed, waiting = suite.findall("testcase")
    assert passed.find("failure") is None and passed.find("skipped") is None
    assert waiting.find("skipped") is not None


def test_runs_survive_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", tls_port=0, sftp_port=0)
    with TestClient(create_app(settings)) as http:
        client_id = http.get("/_emulator/sandbox").json()["applications"][0]["clientId"]
        run = http.post("/_emulator/acceptance/runs", json={"clientId": client_id}).json()
        http.post(f"/_emulator/acceptance/runs/{run['id']}/finish")
    with TestClient(create_app(settings)) as http:
        again = http.get(f"/_emulator/acceptance/runs/{run['id']}").json()
        assert again["status"] == "finished" and len(again["cases"]) == len(run["cases"])
        listed = http.get("/_emulator/acceptance/runs", params={"clientId": client_id}).json()["runs"]
        assert [r["id"] for r in listed] == [run["id"]]


def test_launch_blockers_name_each_required_case_that_did_not_pass(gateway: Gateway) -> None:
    rt = _runtime(gateway)
    client_id = gateway.app()["clientId"]
    [reason] = launch_blockers(rt.db, client_id)
    assert "no finished acceptance run" in reason
    run = _open(gateway).json()
    gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/finish")
    reasons = launch_blockers(rt.db, client_id)
    assert sorted(r.split()[0] for r in reasons) == sorted(REQUIRED)
    assert all("not exercised" in r for r in reasons)
    with rt.db.write() as session:
        for row in session.exec(select(AcceptanceCase).where(AcceptanceCase.run_id == run["id"])).all():
            if row.case_id != "SPOT-005":
                row.status = "passed"
                session.add(row)
    [left] = launch_blockers(rt.db, client_id)
    assert left.startswith("SPOT-005")
    with rt.db.write() as session:
        for row in session.exec(select(AcceptanceCase).where(AcceptanceCase.run_id == run["id"])).all():
            row.status = "passed"
            session.add(row)
    assert launch_blockers(rt.db, client_id) == []
    # A later run with fewer cases does not hide the required ones it left out.
    partial = _open(gateway, cases=["SPOT-002"]).json()
    gateway.http.post(f"/_emulator/acceptance/runs/{partial['id']}/finish")
    assert len(launch_blockers(rt.db, client_id)) == len(REQUIRED)


def test_finishing_withdraws_what_a_case_armed_and_nobody_met(gateway: Gateway) -> None:
    run = _open(gateway, cases=["SPOT-005", "SPOT-006"]).json()
    for case_id in ("SPOT-005", "SPOT-006"):
        gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/cases/{case_id}/start")
    # Starting again re-arms it once, not twice.
    gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/cases/SPOT-005/start")
    assert len(gateway.http.get("/_emulator/scenarios").json()["scenarios"]) == 1
    gateway.http.post(f"/_emulator/acceptance/runs/{run['id']}/finish")
    assert gateway.http.get("/_emulator/scenarios").json()["scenarios"] == []
    assert gateway.http.get("/_emulator/faults").json()["faults"] == []
    body = pay_body(gateway.code(), request_id="AFTER-1")
    body["paymentNotifyUrl"] = "http://127.0.0.1:9/notify"
    assert gateway.call("pay", body)["result"]["resultCode"] == "SUCCESS"
