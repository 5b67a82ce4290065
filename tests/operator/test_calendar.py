"""Due dates on the Uzbekistan calendar: the issue's examples and a week with overrides."""

from __future__ import annotations

from datetime import date

import pytest

from host.operator.calendar import WorkingCalendar


def test_due_date_skips_eid_al_adha_and_the_decree_days_off() -> None:
    assert WorkingCalendar().due(date(2026, 5, 20)) == date(2026, 6, 15)


def test_working_saturday_counts_and_the_moved_day_off_does_not() -> None:
    cal = WorkingCalendar()
    assert cal.is_working(date(2026, 12, 12))  # Saturday moved to work by decree
    assert not cal.is_working(date(2026, 12, 31))  # ...in exchange for 31 December
    assert cal.due(date(2026, 12, 10)) == date(2026, 12, 30)


def test_overrides_win_over_the_decree_calendar() -> None:
    plain = WorkingCalendar()
    assert plain.due(date(2026, 6, 1)) == date(2026, 6, 22)
    # a day off announced later (Wed 10 June) and a working Saturday (13 June)
    cal = WorkingCalendar({date(2026, 6, 10): False, date(2026, 6, 13): True})
    assert not cal.is_working(date(2026, 6, 10)) and cal.is_working(date(2026, 6, 13))
    assert cal.due(date(2026, 6, 1)) == date(2026, 6, 22)  # one lost, one gained
    assert WorkingCalendar({date(2026, 6, 10): False}).due(date(2026, 6, 1)) == date(2026, 6, 23)
    assert cal.working_days_between(date(2026, 6, 8), date(2026, 6, 15)) == 5


def test_six_day_week_is_configurable() -> None:
    assert WorkingCalendar(week_days=6).is_working(date(2026, 6, 6))
    assert not WorkingCalendar().is_working(date(2026, 6, 6))
    with pytest.raises(ValueError):
        WorkingCalendar(week_days=4)
