"""Working days on the Uzbekistan calendar, for the 15-working-day installation promise.

The ``holidays`` package knows the public and Islamic holidays and the days moved by decree
(working Saturdays included); the operator's override table adds days announced later and wins
over everything. A 5-day week is the default (``extra["operator"]["week_days"]``: 5 or 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import holidays
from sqlalchemy import select

from host.operator.tables import calendar_overrides
from ports.storage import Transaction

DUE_WORKING_DAYS = 15


class WorkingCalendar:
    def __init__(self, overrides: Mapping[date, bool] | None = None, week_days: int = 5) -> None:
        if week_days not in (5, 6):
            raise ValueError("a working week has 5 or 6 days")
        self.overrides = dict(overrides or {})
        self.weekend = {5, 6} if week_days == 5 else {6}
        self.official = holidays.country_holidays("UZ")

    def is_working(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        holiday = day in self.official  # also loads the year's decree-moved working days
        if day in self.official.weekend_workdays:
            return True
        return day.weekday() not in self.weekend and not holiday

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself never counts)."""
        day, left = start, n
        while left:
            day += timedelta(days=1)
            left -= self.is_working(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative if ``end`` is before ``start``."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(self.is_working(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))

    def due(self, applied: date, n: int = DUE_WORKING_DAYS) -> date:
        return self.add_working_days(applied, n)


async def load(tx: Transaction, week_days: int = 5) -> WorkingCalendar:
    rows = await tx.execute(select(calendar_overrides.c.day, calendar_overrides.c.working))
    return WorkingCalendar({r.day: r.working for r in rows}, week_days)
