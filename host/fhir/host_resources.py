"""The host's own FHIR types: Organization (facilities), Practitioner (staff accounts) and
PractitionerRole (their grants); AuditEvent lives in :mod:`host.fhir.audit_events`.

Ids: Organization = the facility code (``Organization/F1``), Practitioner = the account's UUID,
PractitionerRole = the grant's UUID. Access: staff holding any clinical role at the facility
they act for; patients too (directory data, not clinical: the names of who treats them), but
a patient never sees a practitioner's PINFL nor searches practitioners by identifier.
Revoked grants are listed with ``active: false``; only staff accounts are Practitioners.
All three claim their UZ Core profile; a practitioner's PINFL is typed like a patient's (NI, official).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.principals import CLINICAL_ROLES
from host.fhir import audit_events
from host.fhir.registry import HostRequest, Provider
from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, uz_core
from host.tables import facilities

FACILITY_SYSTEM = "urn:shifo:facility"  # the facility code, the platform's own identifier
ROLE_SYSTEM = "urn:shifo:role"  # doctor | resident | nurse | pharmacist
DIRECTORY = "fhir.directory"
_NI = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI",
                   "display": "National unique individual identifier"}]}


def token(text: str) -> tuple[str | None, str]:
    """``system|value`` (``|value``: no system) or a bare value (any system)."""
    system, bar, value = text.partition("|")
    return (system or None, value) if bar else (None, text)


def _host(req: FhirRequest) -> HostRequest:
    assert isinstance(req, HostRequest), "host providers run with a HostRequest"
    return req


def _iso(at: datetime) -> str:
    return at.isoformat()


def organization(row: Any) -> FhirItem:
    return FhirItem(patient=None, resource={
        "resourceType": "Organization", "id": row.id, "meta": {"profile": [uz_core("uz-core-organization")]},
        "active": True, "name": row.name,
        "identifier": [{"system": FACILITY_SYSTEM, "value": row.id}], "type": [{"text": row.kind}]})


async def search_organizations(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    stmt = select(facilities).order_by(facilities.c.id).limit(query.limit)
    if query.identifier:
        system, value = token(query.identifier)
        if system not in (None, FACILITY_SYSTEM):
            return []
        stmt = stmt.where(facilities.c.id == value)
    return [organization(r) for r in await req.tx.execute(stmt)]


async def read_organization(req: FhirRequest, rid: str) -> FhirItem | None:
    row = (await req.tx.execute(select(facilities).where(facilities.c.id == rid))).first()
    return organization(row) if row else None


def practitioner(req: HostRequest, account: Any) -> FhirItem:
    resource: dict[str, Any] = {"resourceType": "Practitioner", "id": str(account.id),
                                "meta": {"profile": [uz_core("uz-core-practitioner")]},
                                "active": account.status == "active",
                                "name": [{"use": "official", "text": account.full_name}]}
    if account.pinfl and req.staff:
        resource["identifier"] = [{"use": "official", "type": _NI, "system": req.pinfl_system,
                                   "value": account.pinfl}]
    return FhirItem(patient=None, resource=resource)


async def _staff(req: HostRequest) -> list[Any]:
    return sorted((a for a in await req.identity.accounts(tx=req.tx) if a.kind == "staff"),
                  key=lambda a: str(a.id))


async def search_practitioners(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    host = _host(req)
    found = await _staff(host)
    if query.identifier:
        system, value = token(query.identifier)
        if not host.staff or system not in (None, host.pinfl_system):
            return []
        found = [a for a in found if a.pinfl == value]
    return [practitioner(host, a) for a in found[: query.limit]]


async def read_practitioner(req: FhirRequest, rid: str) -> FhirItem | None:
    host = _host(req)
    found = next((a for a in await _staff(host) if str(a.id) == rid), None)
    return practitioner(host, found) if found else None


def practitioner_role(grant: Any) -> FhirItem:
    period = {"start": _iso(grant.granted_at)}
    if grant.revoked_at:
        period["end"] = _iso(grant.revoked_at)
    return FhirItem(patient=None, resource={
        "resourceType": "PractitionerRole", "id": str(grant.id),
        "meta": {"profile": [uz_core("uz-core-practitioner-role")]}, "active": grant.revoked_at is None,
        "period": period, "practitioner": {"reference": f"Practitioner/{grant.account}"},
        "organization": {"reference": f"Organization/{grant.facility}"},
        "code": [{"coding": [{"system": ROLE_SYSTEM, "code": grant.role}], "text": grant.role}]},
        version="1" if grant.revoked_at is None else "2", updated=grant.revoked_at or grant.granted_at)


async def _grants(req: HostRequest) -> list[Any]:
    grants = [g for a in await _staff(req) for g in await req.identity.grants(a.id, tx=req.tx)]
    return sorted(grants, key=lambda g: str(g.id))


async def search_roles(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    found = await _grants(_host(req))
    if query.code:
        system, value = token(query.code)
        found = [g for g in found if system in (None, ROLE_SYSTEM) and g.role == value]
    items = [practitioner_role(g) for g in found]
    low, high = query.updated_since, query.updated_until  # _lastUpdated: the grant, or its revocation
    items = [i for i in items if i.updated and (low is None or i.updated >= low)
             and (high is None or i.updated < high)]
    return items[: query.limit]


async def read_role(req: FhirRequest, rid: str) -> FhirItem | None:
    found = next((g for g in await _grants(_host(req)) if str(g.id) == rid), None)
    return practitioner_role(found) if found else None


def _directory(type_: str, read: Any, search: Any, params: tuple[str, ...]) -> Provider:
    return Provider(resource=FhirResource(type=type_, object=DIRECTORY, action="read", read=read,
                                          search=search, params=params),
                    roles=CLINICAL_ROLES, everything=False)


def providers() -> list[Provider]:
    """The host's own providers, before any module's."""
    return [
        _directory("Organization", read_organization, search_organizations, ("identifier",)),
        _directory("Practitioner", read_practitioner, search_practitioners, ("identifier",)),
        _directory("PractitionerRole", read_role, search_roles, ("code", "_lastUpdated")),
        audit_events.provider(),
    ]

