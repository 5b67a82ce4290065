"""The patient directory the medcard offers other modules (``ports.directory.PatientDirectory``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select

from plugins.medcard.tables import patients
from ports.directory import PatientSummary
from ports.storage import Storage, Transaction

_FIELDS = tuple(PatientSummary.__struct_fields__)


class MedcardDirectory:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def by_id(self, patient_id: UUID, tx: Transaction | None = None) -> PatientSummary | None:
        return await self._one(patients.c.id == patient_id, tx)

    async def by_pinfl(self, pinfl: str, tx: Transaction | None = None) -> PatientSummary | None:
        return await self._one(patients.c.pinfl == pinfl, tx)

    async def _one(self, where: Any, tx: Transaction | None) -> PatientSummary | None:
        stmt = select(*(patients.c[f] for f in _FIELDS)).where(where)
        if tx is not None:
            row = (await tx.execute(stmt)).first()
        else:
            async with self.storage.transaction(readonly=True) as own:
                row = (await own.execute(stmt)).first()
        return None if row is None else PatientSummary(**row._asdict())


def create(storage: Storage) -> MedcardDirectory:
    return MedcardDirectory(storage)
