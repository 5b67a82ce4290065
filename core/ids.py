"""Identifiers. UUIDv7-style: time-ordered, so ids sort by creation and index well."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
