"""The sandbox definition: deterministic seeding, and broken fixtures named by file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.sandbox.fixtures import FixtureError, load_definition
from emulator.settings import bundled_fixtures


def copy_fixtures(tmp_path: Path) -> Path:
    folder = tmp_path / "fixtures"
    shutil.copytree(bundled_fixtures(), folder)
    return folder


def test_bundled_sandbox_has_what_the_issue_lists() -> None:
    d = load_definition(bundled_fixtures())
    roles = [a.role for a in d.applications]
    assert roles.count("MERCHANT") >= 2 and "ACQUIRER" in roles and "ISV" in roles
    assert all(a.client_id.startswith("SANDBOX_") for a in d.applications)
    isv = next(a for a in d.applications if a.role == "ISV")
    assert (
        isv.test_token and len(isv.test_token) == 48 and isv.isv_customer_id and isv.test_merchant_customer_id
    )
    assert {b.behaviour for b in d.buyers} == {
        "normal",
        "insufficient_balance",
        "needs_verification",
        "frozen",
        "risk_reject",
    }
    for b in d.buyers:
        assert set(d.test_currencies) <= set(b.balances)
    poor = next(b for b in d.buyers if b.behaviour == "insufficient_balance")
    assert poor.balances["USD"] < 1000 and poor.balances["JPY"] < 10
    normal = next(b for b in d.buyers if b.behaviour == "normal")
    assert normal.balances["USD"] // 1000 >= 10_000  # tens of thousands of 10.00 payments


def test_two_loads_are_identical() -> None:
    a, b = load_definition(bundled_fixtures()), load_definition(bundled_fixtures())
    assert [(x.client_id, x.customer_id, x.name, x.sftp_password) for x in a.applications] == [
        (x.client_id, x.customer_id, x.name, x.sftp_password) for x in b.applications
    ]
    assert [(x.login_id, x.password, x.psp_customer_id) for x in a.buyers] == [
        (x.login_id, x.password, x.psp_customer_id) for x in b.buyers
    ]


def _filled(folder: Path) -> list[object]:
    d = load_definition(folder)
    apps = [
        (
            a.name,
            a.client_id,
            a.customer_id,
            a.sftp_password,
            a.isv_customer_id,
            a.test_merchant_customer_id,
            a.test_token,
        )
        for a in d.applications
    ]
    return apps + [(b.login_id, b.password, b.name, b.psp_customer_id) for b in d.buyers]


def test_the_few_faker_providers_fill_the_sandbox_like_all_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulator.sandbox import fixtures

    folder = copy_fixtures(tmp_path)
    toml = folder / "sandbox.toml"
    # A second ISV and more buyers: every value Faker fills, drawn further into its sequence.
    isv = '[[applications]]\nrole = "ISV"\ntest_currency = "HKD"\nprivate_key = "keys/TEST-ONLY-isv-hkd-private.pem"\n'
    buyer = '[[buyers]]\nbehaviour = "normal"\nbalances = { USD = "1", JPY = "1", SGD = "1", HKD = "1" }\n'
    text = toml.read_text().replace("[[buyers]]", isv + "\n" + buyer * 3 + "\n[[buyers]]", 1)
    toml.write_text(text)
    few = _filled(folder)
    monkeypatch.setattr(fixtures, "FAKER_PROVIDERS", None)
    assert _filled(folder) == few
    assert len(few) == 5 + 8


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('test_currency = "USD"', 'test_currency = "XXX"', "applications.0.test_currency"),
        ('role = "ACQUIRER"', 'role = "BANK"', "applications.2.role"),
        ('behaviour = "frozen"', 'behaviour = "sleepy"', "buyers.3.behaviour"),
        (
            'private_key = "keys/TEST-ONLY-merchant-jpy-private.pem"',
            'private_key = "keys/missing.pem"',
            "applications.1.private_key",
        ),
        (
            'balances = { USD = "500", JPY = "9", SGD = "500", HKD = "500" }',
            'balances = { USD = "500" }',
            "buyers.1.balances",
        ),
        (
            'amount = "9905"\nresult = "PAYMENT_AMOUNT_EXCEED_LIMIT"',
            'amount = "9905"\nresult = "SUCCESS"',
            "triggers.4",
        ),
    ],
)
def test_broken_fixture_names_file_and_field(tmp_path: Path, old: str, new: str, where: str) -> None:
    folder = copy_fixtures(tmp_path)
    toml = folder / "sandbox.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))
    with pytest.raises(FixtureError) as err:
        load_definition(folder)
    assert str(toml) in str(err.value) and where in str(err.value)


def test_a_broken_fixture_stops_the_cli_with_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_fixtures(tmp_path)
    (folder / "sandbox.toml").write_text("seed = [\n")
    code = main(["sandbox", "--data-dir", str(tmp_path / "data"), "--fixtures", str(folder)])
    assert code == 2
    assert "sandbox.toml" in capsys.readouterr().err


def test_cli_sandbox_and_payment_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    data = str(tmp_path / "data")
    assert main(["sandbox", "--data-dir", data]) == 0
    sandbox = json.loads(capsys.readouterr().out)
    login = sandbox["buyers"][0]["loginId"]
    assert main(["payment-code", "--buyer", login, "--data-dir", data]) == 0
    code = json.loads(capsys.readouterr().out)["paymentCode"]
    assert len(code) == 18 and code.startswith("28")
    assert main(["payment-code", "--buyer", "nobody", "--data-dir", data]) == 1
