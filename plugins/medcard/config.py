"""The module's settings: ``SHIFO_EXTRA``'s ``{"medcard": {...}}``, validated at start-up.

``late_after_hours`` (default 24): an entry recorded more than this after ``performed_at`` is
accepted but flagged late.
``alert_escalate_minutes`` (default 30): a critical-result alert still unacknowledged this long
after the result goes to every doctor on duty at its facility.
``duty_hours`` (default 12, one shift): who worked at a facility within this many hours is on duty
there (``alert_duty.py``).
"""

from __future__ import annotations

from datetime import timedelta

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    late_after_hours: float = 24
    alert_escalate_minutes: float = 30
    duty_hours: float = 12

    def __post_init__(self) -> None:
        if not 0 < self.late_after_hours <= 24 * 365:
            raise ValueError("late_after_hours must be a number of hours between 0 and 8760, "
                             f"got {self.late_after_hours!r}")
        if not 0 < self.alert_escalate_minutes <= 24 * 60:
            raise ValueError("alert_escalate_minutes must be a number of minutes between 0 and 1440, "
                             f"got {self.alert_escalate_minutes!r}")
        if not 0 < self.duty_hours <= 24 * 7:
            raise ValueError("duty_hours must be a number of hours between 0 and 168, "
                             f"got {self.duty_hours!r}")

    @property
    def late_after(self) -> timedelta:
        return timedelta(hours=self.late_after_hours)

    @property
    def escalate_after(self) -> timedelta:
        return timedelta(minutes=self.alert_escalate_minutes)

    @property
    def duty(self) -> timedelta:
        return timedelta(hours=self.duty_hours)
