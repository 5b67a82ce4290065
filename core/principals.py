"""Who is calling. Roles are granted per facility; only the four clinical roles reach modules."""

from __future__ import annotations

from datetime import datetime
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

#: Staff roles a facility may record for its other people; they reach no module.
NON_CLINICAL_ROLES: frozenset[str] = frozenset({"registrar", "accountant", "facility_it"})


class PrincipalKind(StrEnum):
    STAFF = "staff"  # facility staff: clinical roles come from grants, others get nothing
    OPERATOR = "operator"  # the single integrator: administers, reads no clinical data
    PATIENT = "patient"  # reaches only their own record


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # temporarily: may be reactivated
    DEACTIVATED = "deactivated"  # for good: the login stays taken, the account never signs in again


#: The audience a session is issued for: a patient-app token never opens a staff route.
AUDIENCE: dict[str, str] = {"staff": "staff", "operator": "staff", "patient": "patient"}


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
    session_expires_at: datetime | None = None  # when the token ends (long-lived responses stop then)

    def roles_at(self, facility: str) -> set[str]:
        return {g.role for g in self.grants if g.facility == facility}
