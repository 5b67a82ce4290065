"""Request and response types of the polyclinic module."""

from __future__ import annotations

import msgspec


class ModuleStatus(msgspec.Struct, frozen=True):
    module: str
    title: str
    version: str
    facility: str | None
