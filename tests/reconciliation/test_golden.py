"""Golden files: one hand-built day, every report type compared byte for byte.

Regenerate after a deliberate format change with ALIPAY_EMULATOR_UPDATE_GOLDEN=1, then review
the diff of tests/reconciliation/golden/ like any code change.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from emulator.reconciliation.formats import report_type

from .world import DAY, World, golden_transactions, make_world

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ALIPAY_EMULATOR_UPDATE_GOLDEN") == "1"
TYPES = ["transactionItems", "settlementItems", "settlementSummary"]


def _generate(tmp_path: Path, variant: str, database_url: str | None) -> World:
    world = make_world(
        tmp_path / "data", database_url=database_url, reconciliation_major_units=variant == "major"
    )
    world.add(*golden_transactions())
    world.service.run(day=date.fromisoformat(DAY))
    return world


def _files(root: Path, kind: str) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*.csv"))
        if report_type(p.name) == kind
    }


@pytest.mark.parametrize("variant", ["minor", "major"])
@pytest.mark.parametrize("kind", TYPES)
def test_report_matches_golden(tmp_path: Path, kind: str, variant: str, database_url: str | None) -> None:
    world = _generate(tmp_path, variant, database_url)
    try:
        produced = _files(world.data_dir, kind)
        expected_root = GOLDEN / variant
        if UPDATE:
            for rel, data in produced.items():
                (expected_root / rel).parent.mkdir(parents=True, exist_ok=True)
                (expected_root / rel).write_bytes(data)
        expected = _files(expected_root, kind)
        assert produced, f"no {kind} file was generated"
        assert sorted(produced) == sorted(expected)
        for rel, data in produced.items():
            assert data == expected[rel], f"{rel} differs from its golden file"
    finally:
        world.close()
