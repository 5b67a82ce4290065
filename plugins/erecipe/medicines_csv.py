"""Reading the national medicines register from CSV: one checked :class:`Entry` per good row, a
reason per bad one.

The register is published as a spreadsheet, so files come as UTF-8 or cp1251, with ``,`` or ``;``
(``delimiter=None`` takes whichever the header line uses). Dates are ``YYYY-MM-DD`` or
``DD.MM.YYYY``; flags ``1/0``, ``yes/no``, ``true/false``, ``ha/yo'q``, ``да/нет`` (empty: no);
several GTINs are separated by spaces or ``|``, each checked (GS1 check digit) and kept as 14 digits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, datetime

import msgspec
from biip import ParseError
from biip.gtin import Gtin

from plugins.erecipe.medicines import strength_of

COLUMNS = ("registration_number", "trade_name", "inn", "atc", "form", "strength", "pack_size",
           "manufacturer", "gtins", "valid_from", "valid_to", "prescription_only", "narcotic",
           "psychotropic", "precursor")
FLAGS = COLUMNS[11:]
ATC = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}\Z")
#: UCUM units a strength may carry (per unit of the dosage form: tablet, mL, dose, patch, ...)
UNITS = frozenset({"mg", "g", "ug", "ng", "mL", "L", "[iU]", "[IU]", "mmol", "%", "mg/mL", "ug/mL",
                   "mg/g", "[iU]/mL", "ug/h", "mg/h", "ug/{dose}", "mg/{dose}"})
_YES, _NO = {"1", "yes", "y", "true", "ha", "да"}, {"", "0", "no", "n", "false", "yo'q", "нет"}


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    registration_number: str
    trade_name: str
    inn: str
    atc: str
    form: str
    strength_value: str
    strength_unit: str
    pack_size: int
    manufacturer: str
    gtins: tuple[str, ...]
    valid_from: date
    valid_to: date | None
    prescription_only: bool
    narcotic: bool
    psychotropic: bool
    precursor: bool

    def fingerprint(self) -> str:
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()


class BadFile(ValueError):
    """The file cannot be read at all (encoding, header)."""


def _date(text: str, field: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"{field} {text!r} is not a date (YYYY-MM-DD or DD.MM.YYYY)")


def _flag(text: str, field: str) -> bool:
    word = text.strip().lower()
    if word in _YES or word in _NO:
        return word in _YES
    raise ValueError(f"{field} {text!r} is not yes or no (1/0)")


def _gtin(code: str) -> str:
    try:
        return Gtin.parse(code).as_gtin_14()
    except ParseError as exc:
        raise ValueError(f"GTIN {code!r}: {exc}") from None


def entry(row: dict[str, str]) -> Entry:
    """The row, checked; ValueError saying what is wrong."""
    for field in ("registration_number", "trade_name", "inn", "atc", "form", "strength", "pack_size",
                  "manufacturer", "valid_from"):
        if not row.get(field):
            raise ValueError(f"{field} is empty")
    if not ATC.match(row["atc"].upper()):
        raise ValueError(f"atc {row['atc']!r} is not a 7-character ATC code (e.g. J01CA04)")
    value, unit = strength_of(row["strength"])
    if unit not in UNITS:
        raise ValueError(f"strength unit {unit!r} is not one of the UCUM units {', '.join(sorted(UNITS))}")
    if not row["pack_size"].isdigit() or int(row["pack_size"]) < 1:
        raise ValueError(f"pack_size {row['pack_size']!r} is not a positive whole number")
    valid_from = _date(row["valid_from"], "valid_from")
    valid_to = _date(row["valid_to"], "valid_to") if row.get("valid_to") else None
    if valid_to is not None and valid_to <= valid_from:
        raise ValueError("valid_to is not after valid_from")
    codes = tuple(sorted({_gtin(c) for c in re.split(r"[\s|]+", row.get("gtins", "")) if c}))
    for name, limit in (("registration_number", 64), ("trade_name", 200), ("inn", 200), ("form", 100),
                        ("manufacturer", 200)):
        if len(row[name]) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")
    return Entry(registration_number=row["registration_number"], trade_name=row["trade_name"],
                 inn=row["inn"], atc=row["atc"].upper(), form=row["form"].lower(), strength_value=value,
                 strength_unit=unit, pack_size=int(row["pack_size"]), manufacturer=row["manufacturer"],
                 gtins=codes, valid_from=valid_from, valid_to=valid_to,
                 **{f: _flag(row.get(f, ""), f) for f in FLAGS})


def delimiter_of(header: str) -> str:
    """``;`` when the header line has more of them than commas, else ``,``."""
    return ";" if header.count(";") > header.count(",") else ","


def rows(data: bytes, *, encoding: str = "utf-8-sig", delimiter: str | None = None
         ) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; BadFile when the bytes or the header are unusable."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadFile(f"byte 0x{data[exc.start]:02x} at line {line} is not {encoding}; "
                      "give the file's encoding with --encoding (e.g. cp1251)") from None
    except LookupError:
        raise BadFile(f"unknown encoding {encoding!r}") from None
    text = text.removeprefix("\ufeff")
    sep = delimiter or delimiter_of(text.split("\n", 1)[0])
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sep)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadFile(f"the header lacks {', '.join(missing)} (delimiter {sep!r}); "
                      f"expected {sep.join(COLUMNS)}")
    return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
