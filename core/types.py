"""Constrained string types for msgspec schemas, checked while the body is decoded.

Digits are ``[0-9]``, never ``\\d``: ``\\d`` also matches Arabic-Indic, Devanagari and full-width
digits. The length bounds matter too: in Python's ``re`` a ``$`` also matches before a final
newline, so ``^[0-9]{14}$`` alone would let ``"12345678901234\\n"`` through. These types check the
shape only; rules such as the PINFL check digit live in :mod:`core.pinfl`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec


def digits(count: int, description: str = "", example: str | None = None) -> Any:
    """A string of exactly ``count`` ASCII digits (leading zeros kept), e.g. ``digits(9)`` for a TIN."""
    meta = msgspec.Meta(min_length=count, max_length=count, pattern=f"^[0-9]{{{count}}}$",
                        description=description or f"exactly {count} ASCII digits",
                        examples=[example or "0" * count])
    return Annotated[str, meta]


#: Personal identification number (ПИНФЛ / ЖШШИР): 14 ASCII digits, shape only.
Pinfl = digits(14, "personal identification number (PINFL): 14 ASCII digits", "31503951234567")
