"""Prescription categories, from ``settings.extra["erecipe"]["categories"]`` (else the defaults).

Each category says how long a prescription of it may stay valid, which roles may prescribe it,
whether a pharmacist may hand out less than a line's quantity at a time, and how many times the
full quantity may be dispensed (``repeats``: 1 is a single dispensing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from core.errors import ConfigurationError


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
_cache: dict[int, dict[str, Category]] = {}


def categories(extra: Mapping[str, Any] | None) -> dict[str, Category]:
    section = (extra or {}).get("erecipe") or {}
    raw = section.get("categories")
    if raw is None:
        return DEFAULTS
    key = id(raw)
    if key not in _cache:
        _cache[key] = _parse(raw)
    return _cache[key]


def _parse(raw: Any) -> dict[str, Category]:
    where = "settings.extra['erecipe']['categories']"
    try:
        found = msgspec.convert(raw, dict[str, Category])
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    for name, cat in found.items():
        if not 1 <= cat.max_validity_days <= 366 or not 1 <= cat.repeats <= 12:
            raise ConfigurationError(f"{where}[{name!r}]: validity 1..366 days and repeats 1..12")
        if not cat.prescribers or not set(cat.prescribers) <= _PRESCRIBERS:
            raise ConfigurationError(f"{where}[{name!r}]: prescribers must be doctor and/or resident")
    return found
