"""PINFL (ЖШШИР): the 14-digit personal identification number.

Layout: digit 1 = century and sex (1/2 1800s, 3/4 1900s, 5/6 2000s; odd = male), digits 2-7 =
birth date DDMMYY, digit 14 = check digit: digits 1-13 weighted 7, 3, 1 (repeating), summed, mod 10.
"""

from __future__ import annotations

import re
from datetime import date

from core.clock import utcnow
from core.errors import ValidationFailed

_DIGITS = re.compile(r"[0-9]{14}")  # ASCII only: \d would accept Arabic-Indic digits
_WEIGHTS = (7, 3, 1) * 5
_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def check_digit(first13: str) -> int:
    return sum(int(d) * w for d, w in zip(first13, _WEIGHTS, strict=False)) % 10


def _fail(detail: str, field: str = "pinfl") -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def parse(pinfl: str) -> tuple[date, str]:
    """Validate ``pinfl`` and return (birth date, sex); raises ValidationFailed naming the part."""
    if not _DIGITS.fullmatch(pinfl):
        raise _fail("PINFL must be exactly 14 ASCII digits")
    century = _CENTURY.get(pinfl[0])
    if century is None:
        raise _fail(f"PINFL digit 1 must be 1-6 (century and sex), got {pinfl[0]}")
    day, month, year = int(pinfl[1:3]), int(pinfl[3:5]), int(pinfl[5:7])
    try:
        born = date(century + year, month, day)
    except ValueError:
        raise _fail(f"PINFL digits 2-7 ({pinfl[1:7]}) are not a valid date DDMMYY") from None
    if born > utcnow().date():
        raise _fail(f"PINFL digits 1-7 encode a birth date in the future ({born.isoformat()})")
    if check_digit(pinfl[:13]) != int(pinfl[13]):
        raise _fail("PINFL check digit (digit 14) is wrong")
    return born, "male" if int(pinfl[0]) % 2 else "female"


def validate(pinfl: str, birth_date: date | None = None, sex: str | None = None) -> None:
    """Refuse a PINFL that is malformed or disagrees with the entered birth date or sex."""
    born, pinfl_sex = parse(pinfl)
    if birth_date is not None and born != birth_date:
        raise _fail(f"PINFL encodes birth date {born.isoformat()}, but {birth_date.isoformat()} was "
                    "entered", "birth_date")
    if sex is not None and sex != pinfl_sex:
        raise _fail(f"PINFL encodes sex {pinfl_sex}, but {sex} was entered", "sex")
