"""What the erecipe FHIR providers share: ids, tokens, and the prescription rows they read.

A prescription holds several lines, FHIR a medication per request: each line is one
``MedicationRequest`` with the id ``<prescription id>-<line>``, all lines sharing the prescription
number as identifier and ``groupIdentifier``. Drafts were never signed and are never served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, exists, func, select

from host.pluginapi import FhirQuery, fhir_uuid
from plugins.erecipe.tables import dispenses, history, prescriptions

#: The prescription number's identifier system (the module's own numbering).
NUMBER_SYSTEM = "urn:shifo:erecipe:prescription-number"
#: A paper prescription's form number (unique per facility: the identifier's assigner).
PAPER_SYSTEM = "urn:shifo:erecipe:paper-number"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"


def split_id(text: str) -> tuple[UUID, int] | None:
    """``<uuid>-<line>`` -> (uuid, line); None for anything else."""
    head, dash, tail = text[:36], text[36:37], text[37:]
    found = fhir_uuid(head) if dash == "-" and tail.isdigit() and len(tail) <= 3 else None
    return None if found is None else (found, int(tail))


def status_word(text: str) -> str:
    return text.partition("|")[2] or text


def ref(kind: str, id: object, display: str | None = None) -> dict[str, str]:
    return {"reference": f"{kind}/{id}", **({"display": display} if display else {})}


_steps = history.alias("fhir_steps")
_changes = (_steps.c.prescription_id == prescriptions.c.id, _steps.c.status != "draft")
#: A prescription's FHIR version: its steps since issuing (issued = 1, each dispense, the cancel or
#: the expiry one more), and when the last of them happened.
VERSION = select(func.count()).where(*_changes).scalar_subquery()
UPDATED = select(func.max(_steps.c.at)).where(*_changes).scalar_subquery()


def issued(query: FhirQuery, stmt: Select[Any], when: Any, updated: Any = None) -> Select[Any]:
    """Issued (not draft) prescriptions of the query's patient, ``when`` within its dates and
    ``updated`` (default ``when``) within its ``_lastUpdated``."""
    stmt = stmt.where(prescriptions.c.status != "draft")
    updated = when if updated is None else updated
    if query.patient is not None:
        stmt = stmt.where(prescriptions.c.patient_pinfl == query.patient)
    if query.since is not None:
        stmt = stmt.where(when >= query.since)
    if query.until is not None:
        stmt = stmt.where(when < query.until)
    if query.updated_since is not None:
        stmt = stmt.where(updated >= query.updated_since)
    if query.updated_until is not None:
        stmt = stmt.where(updated < query.updated_until)
    return stmt


def ordered(query: FhirQuery, stmt: Select[Any], when: Any, id_: Any, updated: Any = None) -> Select[Any]:
    """In the query's order: by ``when`` (the date) or ``updated`` (``_lastUpdated``), then id."""
    key = (when if updated is None else updated) if query.by_updated else when
    return stmt.order_by(*((key.asc(), id_.asc()) if query.ascending else (key.desc(), id_.desc())))


def dispensed_any() -> Any:
    return exists(select(dispenses.c.id).where(dispenses.c.prescription_id == prescriptions.c.id))


def request_status(row: Any, now: datetime, any_dispensed: bool) -> str:
    """issued / partially dispensed -> active; dispensed -> completed; cancelled before any
    dispensing -> cancelled; cancelled after some, or expired -> stopped (halted before done)."""
    status = row.status
    if status in ("issued", "partially_dispensed"):
        return "active" if row.valid_until > now else "stopped"
    if status == "dispensed":
        return "completed"
    if status == "cancelled":
        return "stopped" if any_dispensed else "cancelled"
    return "stopped" if status == "expired" else "unknown"

