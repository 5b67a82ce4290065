"""The patient's live stream (Server-Sent Events) of new entries and prescription changes."""

from __future__ import annotations

from typing import Any

HANDLERS: list[Any] = []
