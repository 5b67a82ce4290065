"""Prescription lines against the medicines register, and the category that follows from them.

A line names a register product or an INN with form and strength that a current product has;
free text is refused (422 naming the line), and so is a product struck off (its registration
ended). The line's content keeps the register's spelling of INN, ATC, form and strength, and for a
named product its reference (id, registration number, version, trade name): that is what is signed.

The category follows from the products: a narcotic or psychotropic one makes the prescription
``controlled`` (with that category's prescribers, validity and single dispensing). A client that
names another category for such a line is refused, not silently corrected, because the category
is part of what the prescriber signs; ``controlled`` without such a line is refused likewise.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from core.errors import ValidationFailed
from plugins.erecipe import medicines
from plugins.erecipe.medicines import Medicine
from plugins.erecipe.schema import LineIn
from ports.storage import Transaction

CONTROLLED = "controlled"
DEFAULT = "standard"


def _fail(detail: str, field: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def reference(m: Medicine) -> dict[str, Any]:
    return {"id": str(m.id), "registration_number": m.registration_number, "version": m.version,
            "trade_name": m.trade_name}


async def _products(tx: Transaction, ln: LineIn, n: int, field: str) -> tuple[list[Medicine], bool]:
    """The products the line may be dispensed as (first: the one named), and whether it named one."""
    if ln.medicine is not None:
        if ln.inn or ln.form or ln.strength:
            raise _fail(f"line {n}: name the register product or the INN with form and strength, not both",
                        field)
        found = await medicines.by_ref(tx, ln.medicine)
        if found is not None and not found.current:  # an older version's id: the product as it is now
            found = await medicines.by_ref(tx, found.registration_number)
        if found is None:
            raise _fail(f"line {n}: {ln.medicine!r} is not in the medicines register (give its register "
                        "id, registration number or GTIN)", field)
        return [found], True
    if not (ln.inn and ln.form and ln.strength):
        raise _fail(f"line {n}: a line names a register product (medicine) or an INN with form and "
                    "strength; free text is not prescribable", field)
    try:
        found_all = await medicines.by_inn(tx, ln.inn, ln.form, ln.strength)
    except ValueError as exc:
        raise _fail(f"line {n}: {exc}", field) from None
    if not found_all:
        raise _fail(f"line {n}: no registered product is {ln.inn} {ln.form} {ln.strength}", field)
    return found_all, False


async def resolve(tx: Transaction, given: list[LineIn], today: date
                  ) -> tuple[list[dict[str, Any]], list[int]]:
    """The lines' content, and the numbers of the lines that are narcotic or psychotropic."""
    out, controlled = [], []
    for n, ln in enumerate(given, 1):
        field = f"lines[{n - 1}]"
        products, named = await _products(tx, ln, n, field)
        live = [p for p in products if p.prescribable(today)]
        if not live:
            ended = products[0].valid_to
            raise _fail(f"line {n}: {products[0].trade_name if named else ln.inn} is no longer registered"
                        + (f" (struck off from {ended.isoformat()})" if ended else " (not yet valid)"), field)
        first = live[0]
        if any(p.controlled for p in live):
            controlled.append(n)
        clinical = msgspec.to_builtins(ln)
        for key in ("medicine", "inn", "form", "strength"):
            clinical.pop(key, None)
        out.append({"line": n, **clinical, "medicine": reference(first) if named else None,
                    "inn": first.inn, "atc": first.atc, "form": first.form, "strength": first.strength})
    return out, controlled


def category_of(asked: str | None, controlled: list[int]) -> str:
    """``controlled`` for narcotic and psychotropic lines; else what the client asked (or standard)."""
    if controlled:
        if asked not in (None, CONTROLLED):
            raise _fail(f"line {controlled[0]} is a narcotic or psychotropic medicine: it is prescribed only "
                        f"in the {CONTROLLED} category, not {asked}", "category")
        return CONTROLLED
    if asked == CONTROLLED:
        raise _fail(f"the {CONTROLLED} category is for narcotic and psychotropic medicines; no line is one",
                    "category")
    return asked or DEFAULT
