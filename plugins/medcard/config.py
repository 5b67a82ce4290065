"""The module's settings, read from the host settings' ``extra["medcard"]`` mapping.

``late_after_hours`` (default 24): an entry recorded more than this after ``performed_at`` is
accepted but flagged late.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.errors import ConfigurationError

LATE_AFTER = timedelta(hours=24)


def late_after(extra: Mapping[str, Any] | None) -> timedelta:
    section = (extra or {}).get("medcard") or {}
    hours = section.get("late_after_hours")
    if hours is None:
        return LATE_AFTER
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 365:
        raise ConfigurationError("settings.extra['medcard']['late_after_hours'] must be a number of "
                                 f"hours between 0 and 8760, got {hours!r}")
    return timedelta(hours=hours)
