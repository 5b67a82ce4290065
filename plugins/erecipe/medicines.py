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
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import and_, func, or_, select

from plugins.erecipe.tables import medicine_gtins, medicines
from ports.storage import Transaction

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


async def _load(tx: Transaction, where: Any) -> list[Medicine]:
    rows = (await tx.execute(select(medicines).where(where).order_by(medicines.c.inn, medicines.c.trade_name,
                                                                     medicines.c.id).limit(200))).all()
    if not rows:
        return []
    codes: dict[UUID, list[str]] = {r.id: [] for r in rows}
    for g in await tx.execute(select(medicine_gtins).where(medicine_gtins.c.medicine_id.in_(list(codes)))
                              .order_by(medicine_gtins.c.gtin)):
        codes[g.medicine_id].append(g.gtin)
    fields = [f for f in Medicine.__struct_fields__ if f not in ("gtins", "current")]
    return [Medicine(**{f: getattr(r, f) for f in fields}, gtins=codes[r.id], current=r.superseded_at is None)
            for r in rows]


def _current() -> Any:
    return medicines.c.superseded_at.is_(None)


async def by_ref(tx: Transaction, ref: str) -> Medicine | None:
    """A register id (that version), a GTIN or a registration number (the current version)."""
    ref = ref.strip()
    try:
        found = await _load(tx, medicines.c.id == UUID(ref))
    except ValueError:
        if GTIN.match(ref):
            held = select(medicine_gtins.c.medicine_id).where(medicine_gtins.c.gtin == gtin14(ref))
            found = await _load(tx, and_(medicines.c.id.in_(held), _current()))
        else:
            found = []
        found = found or await _load(tx, and_(medicines.c.registration_number == ref, _current()))
    return found[0] if found else None


async def by_inn(tx: Transaction, inn: str, form: str, strength: str) -> list[Medicine]:
    """The current products of this INN, form and strength (any trade name)."""
    value, unit = strength_of(strength)
    found = await _load(tx, and_(func.lower(medicines.c.inn) == inn.strip().lower(), _current(),
                                 func.lower(medicines.c.form) == form.strip().lower(),
                                 medicines.c.strength_value == value, medicines.c.strength_unit == unit))
    return found


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
    found = await _load(tx, match if include_history else and_(match, _current()))
    return found[:limit]
