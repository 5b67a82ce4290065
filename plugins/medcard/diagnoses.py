"""Diagnoses: an ICD-10 code of the WHO list, primary or secondary, and how certain it is."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from core import icd10
from core.errors import Conflict
from plugins.medcard.inputs import DiagnosisIn
from plugins.medcard.kinds import Normalized
from plugins.medcard.tables import entries
from ports.storage import Transaction


def normalize(data: DiagnosisIn) -> Normalized:
    code = icd10.normalize(data.code)
    stored = {"icd10": code, "display": icd10.description(code), "rank": data.rank,
              "verification": data.verification, "note": data.note}
    return Normalized(code=code, data=stored, clinical_status=data.verification)


async def check_one_primary(tx: Transaction, data: DiagnosisIn, entry_id: UUID | None) -> None:
    """An encounter has at most one current primary diagnosis (a refuted one does not count)."""
    if data.rank != "primary" or data.encounter_id is None or data.verification == "refuted":
        return
    stmt = select(entries.c.entry_id, entries.c.data).where(
        entries.c.encounter_id == data.encounter_id, entries.c.kind == "diagnosis",
        entries.c.status == "current", entries.c.clinical_status != "refuted")
    for row in await tx.execute(stmt):
        if row.data.get("rank") == "primary" and row.entry_id != entry_id:
            raise Conflict(f"encounter {data.encounter_id} already has a primary diagnosis "
                           f"({row.data.get('icd10')}); record this one as secondary or correct that one")
