"""``clock.iso``: the gateway's date-time format, whatever form the instant comes in (its
results are cached by the second, so the same instant in several forms must agree)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from emulator.clock import GMT8, iso

NEW_YORK = timezone(timedelta(hours=-5))


def reference(instant: datetime, tz: timezone = GMT8) -> str:
    aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
    return aware.astimezone(tz).replace(microsecond=0).isoformat()


def test_one_instant_in_every_form() -> None:
    naive = datetime(2026, 12, 2, 13, 0, 0, 999999)  # SQLite hands back naive UTC
    forms = [naive, naive.replace(tzinfo=UTC), naive.replace(tzinfo=UTC).astimezone(GMT8)]
    assert {iso(f) for f in forms} == {"2026-12-02T21:00:00+08:00"}
    assert iso(naive, UTC) == "2026-12-02T13:00:00+00:00"
    assert iso(naive.replace(tzinfo=UTC), NEW_YORK) == "2026-12-02T08:00:00-05:00"
    assert iso(naive) == "2026-12-02T21:00:00+08:00"  # asked again: the cached answer agrees


def test_random_instants_match_the_plain_computation() -> None:
    rng = random.Random(15)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for _ in range(5000):
        instant = start + timedelta(seconds=rng.randint(0, 10**9), microseconds=rng.randint(0, 999999))
        form = rng.choice([instant, instant.replace(tzinfo=None), instant.astimezone(NEW_YORK)])
        tz = rng.choice([GMT8, UTC, NEW_YORK])
        assert iso(form, tz) == reference(form, tz)
