"""An entry input checked and turned into what is stored: code, data and the reportable columns."""

from __future__ import annotations

from typing import Any

import msgspec


class Normalized(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    data: dict[str, Any]
    clinical_status: str | None = None  # diagnosis verification; lab pending/final
    flag: str | None = None  # lab: N, L, H, LL, HH
