"""The medcard module's part of the patient's own record, for the patient app (DMED)."""

from __future__ import annotations

from typing import Any

HANDLERS: list[Any] = []
