"""The patient directory the medcard offers other modules (``ports.directory.PatientDirectory``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select

from plugins.medcard.tables import patients
from ports.directory import PatientSummary
from ports.storage import Storage, Transaction, prepared

_FIELDS = tuple(PatientSummary.__struct_fields__)
_SUMMARY = select(*(patients.c[f] for f in _FIELDS))
# built once: every prescription and visit looks its patient up
_BY_ID = prepared(_SUMMARY.where(patients.c.id == bindparam("key")))
_BY_PINFL = prepared(_SUMMARY.where(patients.c.pinfl == bindparam("key")))


class MedcardDirectory:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def by_id(self, patient_id: UUID, tx: Transaction | None = None) -> PatientSummary | None:
        return await self._one(_BY_ID, patient_id, tx)

    async def by_pinfl(self, pinfl: str, tx: Transaction | None = None) -> PatientSummary | None:
        return await self._one(_BY_PINFL, pinfl, tx)

    async def _one(self, stmt: Any, key: Any, tx: Transaction | None) -> PatientSummary | None:
        if tx is not None:
            row = (await tx.execute(stmt, {"key": key})).first()
        else:
            async with self.storage.transaction(readonly=True) as own:
                row = (await own.execute(stmt, {"key": key})).first()
        return None if row is None else PatientSummary(**dict(zip(_FIELDS, row, strict=True)))


def create(storage: Storage) -> MedcardDirectory:
    return MedcardDirectory(storage)
