"""The archived EDS signatures as FHIR R5 ``Provenance``: the prescriber's over the prescription
(id: the prescription's, targets: its MedicationRequests) and each pharmacist's over a dispense
(id: the dispense's, targets: its MedicationDispenses). ``data`` is the detached PKCS#7/CMS
signature exactly as archived, so anyone can verify it again over the canonical bytes.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select

from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, fhir_uuid
from plugins.erecipe import fhir_common as c
from plugins.erecipe.tables import dispenses, prescriptions

_SIG_TYPE = {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1",
             "display": "Author's Signature"}
_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_ACTIVITY = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def _provenance(id: object, targets: list[dict[str, str]], at: Any, who: dict[str, str], signature: bytes,
                verification: dict[str, Any] | None, activity: str) -> dict[str, Any]:
    when = (verification or {}).get("signing_time") or at.isoformat()
    author = {"coding": [{"system": _AGENT, "code": "author", "display": "Author"}]}
    data = base64.b64encode(signature).decode()
    return {
        "resourceType": "Provenance", "id": str(id), "target": targets, "recorded": at.isoformat(),
        "activity": {"coding": [{"system": _ACTIVITY, "code": activity}]},
        "agent": [{"type": author, "who": who}],
        "signature": [{"type": [_SIG_TYPE], "when": when, "who": who, "targetFormat": "application/json",
                       "sigFormat": "application/pkcs7-signature", "data": data}],
    }


def of_prescription(row: Any) -> dict[str, Any]:
    name = (row.content.get("prescriber") or {}).get("name")
    targets = [c.ref("MedicationRequest", f"{row.id}-{ln['line']}") for ln in row.content["lines"]]
    return _provenance(row.id, targets, row.issued_at, c.ref("Practitioner", row.prescriber_id, name),
                       row.signature, row.verification, "CREATE")


def of_dispense(row: Any) -> dict[str, Any]:
    targets = [c.ref("MedicationDispense", f"{row.id}-{item['line']}") for item in row.items]
    return _provenance(row.id, targets, row.dispensed_at, c.ref("Practitioner", row.pharmacist_id),
                       row.signature, row.verification, "CREATE")


def _signed() -> Any:
    return select(prescriptions).where(prescriptions.c.signature.is_not(None),
                                       prescriptions.c.issued_at.is_not(None))


def _dispenses() -> Any:
    return (select(dispenses, prescriptions.c.patient_pinfl)
            .join(prescriptions, prescriptions.c.id == dispenses.c.prescription_id))


def _rx_item(row: Any) -> FhirItem:  # a signature, once archived, never changes
    return FhirItem(resource=of_prescription(row), patient=row.patient_pinfl, when=row.issued_at,
                    version="1", updated=row.issued_at)


def _dispense_item(row: Any) -> FhirItem:
    return FhirItem(resource=of_dispense(row), patient=row.patient_pinfl, when=row.dispensed_at,
                    version="1", updated=row.dispensed_at)


async def read(req: FhirRequest, id: str) -> FhirItem | None:
    found = fhir_uuid(id)
    if found is None:
        return None
    row = (await req.tx.execute(_signed().where(prescriptions.c.id == found))).first()
    if row is not None:
        return _rx_item(row)
    row = (await req.tx.execute(_dispenses().where(dispenses.c.id == found))).first()
    return None if row is None else _dispense_item(row)


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    limit = max(query.limit, 0)
    rx = c.ordered(query, c.issued(query, _signed(), prescriptions.c.issued_at), prescriptions.c.issued_at,
                   prescriptions.c.id)
    ds = c.ordered(query, c.issued(query, _dispenses(), dispenses.c.dispensed_at), dispenses.c.dispensed_at,
                   dispenses.c.id)
    items = ([_rx_item(r) for r in (await req.tx.execute(rx.limit(limit))).all()]
             + [_dispense_item(r) for r in (await req.tx.execute(ds.limit(limit))).all()])
    items.sort(key=lambda i: (i.when, i.resource["id"]), reverse=not query.ascending)
    return items[:limit]


RESOURCE = FhirResource(type="Provenance", object="erecipe.prescription", action="read", read=read,
                        search=search, params=("patient", "date", "_lastUpdated"),
                        sorts=("date", "_lastUpdated"))
