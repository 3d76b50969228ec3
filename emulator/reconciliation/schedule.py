"""The report calendar: GMT+8 business days, settlement dates, and when each file is due.

Spec §6.5: a transaction day T runs 00:00:00-23:59:59 GMT+8; its transaction details appear on
T+1, its settlement on the settlement date T+N counted in working days (weekends count unless
configured otherwise). Files for a date D appear at D 00:00 GMT+8 plus a delay (spec §9 U15:
early morning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..clock import GMT8

_ONE_DAY = timedelta(days=1)


def day_start(day: date) -> datetime:
    """00:00:00 GMT+8 of ``day``, as a UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=GMT8).astimezone(UTC)


def day_window(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC covering the GMT+8 days ``first``..``last`` (inclusive)."""
    return day_start(first), day_start(last or first) + _ONE_DAY


def local_day(instant: datetime) -> date:
    return instant.astimezone(GMT8).date()


@dataclass(frozen=True, slots=True)
class Calendar:
    """Settlement cycle T+``settlement_days`` and the delay after midnight GMT+8."""

    settlement_days: int = 1
    settle_weekends: bool = True
    delay: timedelta = timedelta(hours=2)

    def __post_init__(self) -> None:
        if self.settlement_days < 1:
            raise ValueError("the settlement cycle is T+N with N >= 1")

    def is_working_day(self, day: date) -> bool:
        return self.settle_weekends or day.weekday() < 5

    def settlement_date(self, day: date) -> date:
        """The date that settles transaction day ``day``: N working days later."""
        current, counted = day, 0
        # At most N working days, and never more than two non-working days in a row.
        for _ in range(3 * self.settlement_days + 3):
            current += _ONE_DAY
            if self.is_working_day(current):
                counted += 1
                if counted == self.settlement_days:
                    return current
        raise AssertionError("unreachable: a week always has working days")

    def transaction_days(self, settlement: date) -> tuple[date, date] | None:
        """The transaction days ``(first, last)`` that ``settlement`` settles, or None.

        ``settlement_date`` never decreases, so the days form one contiguous run.
        """
        span = 3 * self.settlement_days + 3
        days = [
            settlement - timedelta(days=back)
            for back in range(span, 0, -1)
            if self.settlement_date(settlement - timedelta(days=back)) == settlement
        ]
        return (days[0], days[-1]) if days else None

    def due_at(self, day: date) -> datetime:
        """When files dated ``day`` appear (folder date: T+1 for details, S for settlement)."""
        return day_start(day) + self.delay

    def items_due_through(self, now: datetime) -> date:
        """The last transaction day whose details are due by ``now``."""
        return local_day(now - self.delay) - _ONE_DAY

    def settlement_due_through(self, now: datetime) -> date:
        """The last settlement date whose files are due by ``now``."""
        return local_day(now - self.delay)

    def last_day_settled_by(self, settlement: date) -> date:
        """The latest transaction day whose settlement date is on or before ``settlement``."""
        day = settlement - _ONE_DAY
        for _ in range(3 * self.settlement_days + 3):
            if self.settlement_date(day) <= settlement:
                return day
            day -= _ONE_DAY
        raise AssertionError("unreachable: settlement dates are at most ~3N days ahead")
