"""The pack a pharmacist hands out: typed (a register reference, batch, expiry) or scanned.

Uzbekistan's mandatory digital marking prints a GS1 DataMatrix on every pack: GTIN (AI 01),
serial (21), expiry (17) and batch (10), variable-length fields ended by the group separator
(``\\x1d``). It is parsed with ``biip`` (a maintained GS1 library), not by hand. The product must
be the line's: the same INN, dosage form and strength (any trade name: generic substitution).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import biip
import msgspec

from core.errors import ValidationFailed
from plugins.erecipe import medicines
from plugins.erecipe.medicines import Medicine
from plugins.erecipe.schema import DispenseItem
from ports.storage import Transaction


class Pack(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    quantity: int
    product: Medicine
    gtin: str | None
    serial: str | None
    batch: str | None
    expiry: date

    def stored(self) -> dict[str, Any]:
        """As kept in the dispense (and shown in FHIR): the product's register reference and the pack."""
        return {"line": self.line, "quantity": self.quantity, "medicine": self.product.trade_name,
                "medicine_id": str(self.product.id),
                "registration_number": self.product.registration_number, "gtin": self.gtin,
                "serial": self.serial, "batch": self.batch, "expiry": self.expiry.isoformat()}


def _fail(n: int, detail: str) -> ValidationFailed:
    return ValidationFailed(f"item {n}: {detail}", errors=[{"field": f"items[{n - 1}]", "message": detail}])


def scanned(text: str, n: int) -> tuple[str, str, date, str | None]:
    """(GTIN-14, serial, expiry, batch) of a GS1 DataMatrix; 422 when it lacks any but the batch."""
    try:
        message = biip.parse(text.strip()).gs1_message
    except biip.ParseError as exc:
        raise _fail(n, f"the scan is not a GS1 DataMatrix: {exc}") from None
    if message is None:
        raise _fail(n, "the scan is not a GS1 DataMatrix")
    found = message.element_strings
    gtin, serial, expiry, batch = (found.get(ai=ai) for ai in ("01", "21", "17", "10"))
    if gtin is None or gtin.gtin is None:
        why = f": {gtin.gtin_error}" if gtin is not None and gtin.gtin_error else ""
        raise _fail(n, f"the scan carries no valid GTIN (01){why}")
    if serial is None or expiry is None or expiry.date is None:
        raise _fail(n, "the scan lacks the serial (21) or the expiry (17) of a marked pack")
    return gtin.gtin.as_gtin_14(), serial.value, expiry.date, batch.value if batch else None


async def handed_out(tx: Transaction, item: DispenseItem, n: int, line: dict[str, Any], today: date) -> Pack:
    """The pack of item ``n`` (1-based), checked against its prescription ``line``."""
    gtin = serial = None
    if item.scan is not None:
        if item.batch is not None or item.expiry is not None:
            raise _fail(n, "a scanned pack carries its own batch and expiry: send the scan alone")
        gtin, serial, expiry, batch = scanned(item.scan, n)
        product = await medicines.by_ref(tx, gtin)
        if product is None:
            raise _fail(n, f"GTIN {gtin} is not in the medicines register")
        if item.medicine is not None:
            named = await medicines.by_ref(tx, item.medicine)
            if named is None or named.registration_number != product.registration_number:
                raise _fail(n, f"the scanned pack (GTIN {gtin}) is not {item.medicine!r}")
    else:
        if item.medicine is None or item.batch is None or item.expiry is None:
            raise _fail(n, "give the product (medicine: register id, registration number or GTIN) with "
                           "batch and expiry, or scan the pack")
        found = await medicines.by_ref(tx, item.medicine)
        if found is None:
            raise _fail(n, f"{item.medicine!r} is not in the medicines register (give its register id, "
                           "registration number or GTIN)")
        product, batch, expiry = found, item.batch, item.expiry
        gtin = medicines.gtin14(item.medicine) if medicines.GTIN.match(item.medicine.strip()) else None
    if expiry <= today:
        raise _fail(n, f"the pack expired on {expiry.isoformat()}")
    if not medicines.same_product(line, product):
        raise _fail(n, f"line {item.line} is {line['inn']} {line['strength']} {line['form']}; "
                       f"{product.trade_name} is {product.inn} {product.strength} {product.form}: only the "
                       "same INN, form and strength may be handed out")
    return Pack(line=item.line, quantity=item.quantity, product=product, gtin=gtin, serial=serial,
                batch=batch, expiry=expiry)
