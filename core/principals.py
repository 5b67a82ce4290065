"""Who is calling. Roles are granted per facility; only the four clinical roles reach modules."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

import msgspec


class Role(StrEnum):
    DOCTOR = "doctor"
    RESIDENT = "resident"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"


#: The order's whitelist: only these roles may receive any module permission.
CLINICAL_ROLES: frozenset[str] = frozenset(r.value for r in Role)


class PrincipalKind(StrEnum):
    STAFF = "staff"  # facility staff: clinical roles come from grants, others get nothing
    OPERATOR = "operator"  # the single integrator: administers, reads no clinical data
    PATIENT = "patient"  # reaches only their own record


class Grant(msgspec.Struct, frozen=True):
    facility: str
    role: str


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    kind: PrincipalKind
    login: str
    full_name: str
    pinfl: str | None = None
    grants: tuple[Grant, ...] = ()
    session_id: UUID | None = None

    def roles_at(self, facility: str) -> set[str]:
        return {g.role for g in self.grants if g.facility == facility}
