"""The operator's settings, read from ``Settings.extra["operator"]`` (``SHIFO_EXTRA`` JSON)."""

from __future__ import annotations

from typing import Any

import msgspec

from host.settings import Settings


class OperatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    week_days: int = 5  # 5 or 6 working days a week
    due_working_days: int = 15  # the installation promise
    due_soon_working_days: int = 3  # an open request this close to its due date is "due soon"
    certification_days: int = 365  # access must be re-certified this often
    review_warning_days: int = 30  # flag users this many days before their certification lapses
    auto_suspend: bool = True  # suspend users whose certification lapsed
    enforce_every_hours: float = 6  # how often the host checks (0: only `shifo review enforce`)
    inactive_days: int = 90  # flag accounts without a sign-in for this long


def of(settings: Settings) -> OperatorConfig:
    raw: Any = settings.extra.get("operator", {})
    return msgspec.convert(raw, OperatorConfig)
