"""The registration outcome table: validated on load (file and field named), matched in order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emulator.sandbox.fixtures import DEFINITION_FILE, FixtureError, RegistrationOutcomeSpec, load_definition
from emulator.settings import bundled_fixtures


def with_outcomes(tmp_path: Path, table: str) -> Path:
    folder = tmp_path / "fixtures"
    shutil.copytree(bundled_fixtures(), folder)
    path = folder / DEFINITION_FILE
    text = path.read_text().split("\n[[registration_outcomes]]", 1)[0]
    path.write_text(text + "\n" + table)
    return folder


def test_bundled_table_rejects_names_containing_reject() -> None:
    rules = load_definition(bundled_fixtures()).registration_outcomes
    assert [r.outcome for r in rules] == ["REJECTED", "REJECTED"]
    assert all(r.reason for r in rules)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('[[registration_outcomes]]\noutcome = "REJECTED"\nreason = "x"\n', "exactly one of"),
        (
            '[[registration_outcomes]]\nmerchant_name = "a"\nstore_name = "b"\noutcome = "APPROVED"\n',
            "exactly one of",
        ),
        ('[[registration_outcomes]]\nmerchant_name = "a"\noutcome = "REJECTED"\n', "needs a reason"),
        (
            '[[registration_outcomes]]\nmerchant_name = "a"\noutcome = "APPROVED"\nreason = "x"\n',
            "only a REJECTED",
        ),
        ('[[registration_outcomes]]\nmerchant_name = "a"\noutcome = "MAYBE"\n', "outcome"),
        ('[[registration_outcomes]]\nmerchant_name = "a"\noutcome = "APPROVED"\ncolour = "red"\n', "colour"),
    ],
)
def test_broken_rows_are_named_by_file_and_field(tmp_path: Path, table: str, problem: str) -> None:
    folder = with_outcomes(tmp_path, table)
    with pytest.raises(FixtureError) as err:
        load_definition(folder)
    message = str(err.value)
    assert str(folder / DEFINITION_FILE) in message and "registration_outcomes.0" in message
    assert problem in message


def test_matching_rules() -> None:
    by_ref = RegistrationOutcomeSpec(reference_merchant_id="M-9", outcome="REJECTED", reason="r")
    by_store = RegistrationOutcomeSpec(reference_store_id="S-9", outcome="APPROVED")
    by_name = RegistrationOutcomeSpec(merchant_name="Noodle", outcome="REJECTED", reason="r")
    by_store_name = RegistrationOutcomeSpec(store_name="kiosk", outcome="REJECTED", reason="r")
    kw = {"reference_store_id": None, "merchant_names": ("Corner NOODLES", "Legal Ltd"), "store_name": None}
    assert by_ref.matches(reference_merchant_id="M-9", **kw)
    assert not by_ref.matches(reference_merchant_id="M-90", **kw)
    assert by_name.matches(reference_merchant_id="X", **kw)
    assert not by_store.matches(reference_merchant_id="X", **kw)
    assert not by_store_name.matches(reference_merchant_id="X", **kw)
    assert by_store.matches(
        reference_merchant_id="X", reference_store_id="S-9", merchant_names=(), store_name=None
    )
    assert by_store_name.matches(
        reference_merchant_id="X", reference_store_id="S-1", merchant_names=(), store_name="Airport Kiosk 3"
    )
