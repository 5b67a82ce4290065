"""Prescription categories, from ``SHIFO_EXTRA``'s ``{"erecipe": {"categories": ...}}`` (else the defaults).

Each category says how long a prescription of it may stay valid, which roles may prescribe it,
whether a pharmacist may hand out less than a line's quantity at a time, and how many times the
full quantity may be dispensed (``repeats``: 1 is a single dispensing).
"""

from __future__ import annotations

import msgspec


class Category(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_validity_days: int
    prescribers: tuple[str, ...] = ("doctor", "resident")
    partial: bool = True
    repeats: int = 1


DEFAULTS: dict[str, Category] = {
    "standard": Category(max_validity_days=30),
    "chronic": Category(max_validity_days=90, repeats=3),
    "controlled": Category(max_validity_days=15, prescribers=("doctor",), partial=False),
}
_PRESCRIBERS = {"doctor", "resident"}


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``SHIFO_EXTRA={"erecipe": {...}}``, validated at start-up (hook ``shifo_settings``)."""

    categories: dict[str, Category] = msgspec.field(default_factory=lambda: dict(DEFAULTS))
    #: how far back an offline journal entry's ``dispensed_at`` may lie when it is uploaded
    offline_window_hours: int = 72
    #: how long before its registration a paper prescription may have been written
    paper_window_hours: int = 72

    def __post_init__(self) -> None:
        if not 1 <= self.offline_window_hours <= 720:
            raise ValueError("offline_window_hours: 1..720 (30 days)")
        if not 1 <= self.paper_window_hours <= 720:
            raise ValueError("paper_window_hours: 1..720 (30 days)")
        for name, cat in self.categories.items():
            if not 1 <= cat.max_validity_days <= 366 or not 1 <= cat.repeats <= 12:
                raise ValueError(f"categories[{name!r}]: validity 1..366 days and repeats 1..12")
            if not cat.prescribers or not set(cat.prescribers) <= _PRESCRIBERS:
                raise ValueError(f"categories[{name!r}]: prescribers must be doctor and/or resident")
