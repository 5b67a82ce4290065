"""The medicines register as prescribing and dispensing read it.

A product is named by its register id (any version), its registration number or one of its GTINs;
the latter two find the *current* version. A line by INN names no product: it must match at least
one current, prescribable product of that INN, dosage form and strength, so nothing unregistered
is ever prescribed. Strengths compare as (decimal value, UCUM unit), forms and INNs case-blind.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import String, and_, bindparam, func, or_, select

from plugins.erecipe.tables import medicine_gtins, medicines
from ports.storage import Transaction, prepared

GTIN = re.compile(r"^[0-9]{8,14}\Z")
_STRENGTH = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(\S+)\s*\Z")


class Medicine(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a registered product (``current``: not superseded by a later import)."""

    id: UUID
    registration_number: str
    version: int
    trade_name: str
    inn: str
    atc: str
    form: str
    strength_value: str
    strength_unit: str
    pack_size: int
    manufacturer: str
    gtins: list[str]
    valid_from: date
    valid_to: date | None
    prescription_only: bool
    narcotic: bool
    psychotropic: bool
    precursor: bool
    current: bool

    @property
    def strength(self) -> str:
        return f"{self.strength_value} {self.strength_unit}"

    @property
    def controlled(self) -> bool:
        """Narcotic or psychotropic: prescribed only under the ``controlled`` category."""
        return self.narcotic or self.psychotropic

    def prescribable(self, today: date) -> bool:
        return self.current and self.valid_from <= today and (self.valid_to is None or today < self.valid_to)


def decimal_text(value: str) -> str:
    """``"0,50"`` -> ``"0.5"``, ``"500"`` -> ``"500"``; ValueError when not a positive decimal."""
    try:
        number = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise ValueError(f"{value!r} is not a positive number")
    text = format(number.normalize(), "f")
    return text


def strength_of(text: str) -> tuple[str, str]:
    """``"500 mg"`` -> ``("500", "mg")``; ValueError when it is not a number and a unit."""
    found = _STRENGTH.match(text)
    if found is None:
        raise ValueError(f"strength {text!r} is not a number and a unit, e.g. '500 mg'")
    return decimal_text(found.group(1)), found.group(2)


def same_product(a: dict[str, Any] | Medicine, b: Medicine) -> bool:
    """Same INN, form and strength: the products a pharmacist may substitute for each other."""
    if isinstance(a, Medicine):
        a = {"inn": a.inn, "form": a.form, "strength": a.strength}
    try:
        strength = strength_of(str(a["strength"]))
    except ValueError:
        return False
    return (str(a["inn"]).casefold() == b.inn.casefold() and str(a["form"]).casefold() == b.form.casefold()
            and strength == (b.strength_value, b.strength_unit))


def gtin14(code: str) -> str:
    return code.rjust(14, "0")


_M = medicines.c
_FIELDS = tuple(f for f in Medicine.__struct_fields__ if f not in ("gtins", "current"))
_VALUES = attrgetter(*_FIELDS)


def _joined(where: Any) -> Any:
    """The first 200 versions ``where`` holds, each on one row per GTIN (or one with none), in one
    query ordered so that :func:`_grouped` can gather a product's GTINs as they come."""
    found = select(medicines).where(where).order_by(_M.inn, _M.trade_name, _M.id).limit(200).subquery()
    g = medicine_gtins.c
    return (select(found, g.gtin).outerjoin(medicine_gtins, g.medicine_id == found.c.id)
            .order_by(found.c.inn, found.c.trade_name, found.c.id, g.gtin))


def _current() -> Any:
    return _M.superseded_at.is_(None)


# built once: prescribing and dispensing look products up on every line (func.lower and the rest
# cost more to build and compile per call than the query takes)
_BY_ID = prepared(_joined(_M.id == bindparam("id")))
_BY_GTIN = prepared(_joined(and_(_M.id.in_(select(medicine_gtins.c.medicine_id).where(
    medicine_gtins.c.gtin == bindparam("gtin"))), _current())))
_BY_NUMBER = prepared(_joined(and_(_M.registration_number == bindparam("number"), _current())))
_BY_INN = prepared(_joined(and_(
    func.lower(_M.inn) == bindparam("inn", type_=String()), _current(),
    func.lower(_M.form) == bindparam("form", type_=String()),
    _M.strength_value == bindparam("value"), _M.strength_unit == bindparam("unit"))))


def _grouped(rows: Any) -> list[Medicine]:
    found: list[Medicine] = []
    codes: list[str] = []
    last = None
    for r in rows:
        if r.id != last:
            last, codes = r.id, []
            found.append(Medicine(**dict(zip(_FIELDS, _VALUES(r), strict=True)), gtins=codes,
                                  current=r.superseded_at is None))
        if r.gtin is not None:
            codes.append(r.gtin)
    return found


async def by_ref(tx: Transaction, ref: str) -> Medicine | None:
    """A register id (that version), a GTIN or a registration number (the current version)."""
    ref = ref.strip()
    try:
        found = _grouped(await tx.execute(_BY_ID, {"id": UUID(ref)}))
    except ValueError:
        found = _grouped(await tx.execute(_BY_GTIN, {"gtin": gtin14(ref)})) if GTIN.match(ref) else []
        found = found or _grouped(await tx.execute(_BY_NUMBER, {"number": ref}))
    return found[0] if found else None


async def by_inn(tx: Transaction, inn: str, form: str, strength: str) -> list[Medicine]:
    """The current products of this INN, form and strength (any trade name)."""
    value, unit = strength_of(strength)
    return _grouped(await tx.execute(_BY_INN, {"inn": inn.strip().lower(), "form": form.strip().lower(),
                                                "value": value, "unit": unit}))


async def search(tx: Transaction, q: str, *, include_history: bool = False, limit: int = 50
                 ) -> list[Medicine]:
    """By INN or trade name (contains, case-blind), ATC (prefix) or GTIN (exact)."""
    q = q.strip()
    held = select(medicine_gtins.c.medicine_id).where(medicine_gtins.c.gtin == gtin14(q)) \
        if GTIN.match(q) else None
    like, raw = f"%{q.lower()}%", f"%{q}%"  # raw as well: SQLite's lower() folds ASCII only
    match = or_(func.lower(medicines.c.inn).like(like), func.lower(medicines.c.trade_name).like(like),
                medicines.c.inn.like(raw), medicines.c.trade_name.like(raw),
                medicines.c.atc.like(f"{q.upper()}%"), medicines.c.registration_number == q,
                *([medicines.c.id.in_(held)] if held is not None else []))
    found = _grouped(await tx.execute(_joined(match if include_history else and_(match, _current()))))
    return found[:limit]
