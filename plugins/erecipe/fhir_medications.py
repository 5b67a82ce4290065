"""Register products as FHIR R5 ``Medication`` (one per version: the id is the register row's), and the
``medication`` a prescription line's ``MedicationRequest`` carries: the INN with its ATC code, and a
reference to the Medication when the line named a product.

Medications are reference data, in no patient's compartment; prescribers and pharmacists read them
(``erecipe.medicines/read``). Search by ``identifier`` (registration number or GTIN) or ``code``
(ATC code or GTIN), or list the current register (the host treats ``Medication`` as reference data,
outside every compartment); only current versions are found, any version is readable by id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, fhir_token, fhir_uuid
from plugins.erecipe import fhir_common as c
from plugins.erecipe import medicines
from plugins.erecipe.medicines import Medicine

REGISTRATION_SYSTEM = "urn:shifo:erecipe:medicine-registration"
ATC = "http://www.whocc.no/atc"
GTIN = "https://www.gs1.org/gtin"


def to_medication(m: Medicine) -> dict[str, Any]:
    return {
        "resourceType": "Medication", "id": str(m.id),
        "identifier": [{"system": REGISTRATION_SYSTEM, "value": m.registration_number},
                       *({"system": GTIN, "value": g} for g in m.gtins)],
        "code": {"coding": [{"system": ATC, "code": m.atc, "display": m.inn}], "text": m.trade_name},
        "status": "active" if m.current and m.valid_to is None else "inactive",
        "marketingAuthorizationHolder": {"display": m.manufacturer},
        "doseForm": {"text": m.form},
        "ingredient": [{"item": {"concept": {"text": m.inn}}, "isActive": True, "strengthQuantity": {
            "value": float(Decimal(m.strength_value)), "unit": m.strength_unit, "system": c.UCUM,
            "code": m.strength_unit}}],
    }


def line_medication(line: dict[str, Any]) -> dict[str, Any]:
    """A MedicationRequest's ``medication`` (CodeableReference) for a prescription line."""
    concept: dict[str, Any] = {"text": f"{line['inn']} {line['strength']} {line['form']}"}
    if line.get("atc"):
        concept["coding"] = [{"system": ATC, "code": line["atc"], "display": line["inn"]}]
    named = line.get("medicine")
    if isinstance(named, dict):
        return {"concept": concept, "reference": c.ref("Medication", named["id"], named.get("trade_name"))}
    return {"concept": concept}


def _item(m: Medicine) -> FhirItem:
    return FhirItem(resource=to_medication(m), patient=None, version=str(m.version))


async def read(req: FhirRequest, id: str) -> FhirItem | None:
    found = fhir_uuid(id)
    m = None if found is None else await medicines.by_ref(req.tx, str(found))
    return None if m is None else _item(m)


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    token = query.identifier or query.code
    if token is None:  # reference data: the current register, by INN and trade name
        return [_item(m) for m in (await medicines.search(req.tx, "", limit=max(query.limit, 0)))]
    system, value = fhir_token(token)
    if system not in (None, REGISTRATION_SYSTEM, ATC, GTIN) or not value:
        return []
    found = await medicines.search(req.tx, value)
    if system == ATC or (query.code is not None and system is None and not medicines.GTIN.match(value)):
        found = [m for m in found if m.atc == value.upper()]
    elif system == REGISTRATION_SYSTEM:
        found = [m for m in found if m.registration_number == value]
    elif system == GTIN or medicines.GTIN.match(value):
        found = [m for m in found if medicines.gtin14(value) in m.gtins]
    else:
        found = [m for m in found if m.registration_number == value]
    return [_item(m) for m in found[:max(query.limit, 0)]]


RESOURCE = FhirResource(type="Medication", object="erecipe.medicines", action="read", read=read,
                        search=search, params=("identifier", "code"))
