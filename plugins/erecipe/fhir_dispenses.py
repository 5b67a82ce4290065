"""Dispensings as FHIR R5 ``MedicationDispense``: one per line handed out in a dispense, with the
id ``<dispense id>-<line>``. R5 keeps lot and expiry on ``Medication.batch``, so the product
handed out is a contained Medication carrying the batch and the prescribed INN as ingredient.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource
from plugins.erecipe import fhir_common as c
from plugins.erecipe.tables import dispenses, prescriptions

_COLUMNS = (dispenses, prescriptions.c.patient_pinfl, prescriptions.c.content,
            prescriptions.c.id.label("rx_id"))


def to_dispense(row: Any, item: dict[str, Any], subject: dict[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = next((ln for ln in row.content["lines"] if ln["line"] == item["line"]), {})
    medication: dict[str, Any] = {
        "resourceType": "Medication", "id": "product", "code": {"text": item["medicine"]},
        "batch": {k: v for k, v in (("lotNumber", item.get("batch")), ("expirationDate", item["expiry"]))
                  if v}}
    if item.get("gtin"):  # the pack's GTIN, and the register product it is
        medication["code"]["coding"] = [{"system": "https://www.gs1.org/gtin", "code": item["gtin"]}]
    if line.get("inn"):
        medication["ingredient"] = [{"item": {"concept": {"text": line["inn"]}}}]
    return {
        "resourceType": "MedicationDispense", "id": f"{row.id}-{item['line']}",
        "contained": [medication],
        "status": "completed",
        "medication": {"reference": {"reference": "#product"}},
        "subject": subject,
        "performer": [{"actor": c.ref("Practitioner", row.pharmacist_id)},
                      {"actor": c.ref("Organization", row.facility)}],
        "authorizingPrescription": [c.ref("MedicationRequest", f"{row.rx_id}-{item['line']}")],
        "quantity": {"value": item["quantity"], **({"unit": line["form"]} if line.get("form") else {})},
        "whenHandedOver": row.dispensed_at.isoformat(),
    }


async def _items(req: FhirRequest, row: Any) -> list[FhirItem]:
    subject = await req.patient_ref(row.patient_pinfl)
    return [FhirItem(resource=to_dispense(row, item, subject), patient=row.patient_pinfl,
                     when=row.dispensed_at, version="1", updated=row.dispensed_at)  # never changed
            for item in row.items]


def _joined() -> Any:
    return select(*_COLUMNS).join(prescriptions, prescriptions.c.id == dispenses.c.prescription_id)


async def read(req: FhirRequest, id: str) -> FhirItem | None:
    found = c.split_id(id)
    if found is None:
        return None
    row = (await req.tx.execute(_joined().where(dispenses.c.id == found[0]))).first()
    items = [] if row is None else await _items(req, row)
    return next((i for i in items if i.resource["id"] == id), None)


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    stmt = c.issued(query, _joined(), dispenses.c.dispensed_at)
    if query.status is not None and c.status_word(query.status) != "completed":
        return []
    stmt = c.ordered(query, stmt, dispenses.c.dispensed_at, dispenses.c.id)
    rows = await req.tx.execute(stmt.limit(max(query.limit, 0)))
    out = [item for row in rows.all() for item in await _items(req, row)]
    return out[:max(query.limit, 0)]


RESOURCE = FhirResource(type="MedicationDispense", object="erecipe.prescription", action="read", read=read,
                        search=search, params=("patient", "date", "status", "_lastUpdated"),
                        sorts=("date", "_lastUpdated"))
