"""The audit trail as FHIR R5 ``AuditEvent`` (id ``<chain>-<seq>``, the entry's place in its chain).

Who may read: a doctor at the facility they act for, that facility's events only (nurses,
residents and pharmacists see no one's access log; the operator reads audit through its own
tools, never clinical FHIR); a patient, the events on their own record (the engine forces
``patient`` to theirs), to see who opened their card. Client addresses and request ids stay
out of the resource. Search: ``patient`` and ``date``, newest first. AuditEvents are not
part of ``Patient/$everything``.

UZ Core AuditEvent shapes the codes: ``code`` leads with the FHIR interaction (or DICOM login),
``outcome`` is an issue severity, the facility is the source's observer (the guide admits only
people as agents), and an event whose requestor is a clinician claims the profile (the guide's
agent roles are health professionals only, so a patient's or operator's event does not).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.principals import CLINICAL_ROLES
from host.audit import CHAINS, audit_log
from host.fhir.registry import HostRequest, Provider
from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, uz_core
from ports.directory import SERVICE as DIRECTORY

ACTION_SYSTEM = "urn:shifo:audit-action"  # "medcard.entry/read", "fhir.Observation/search", ...
OUTCOME_SYSTEM = "http://hl7.org/fhir/issue-severity"
_INTERACTION = "http://hl7.org/fhir/restful-interaction"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_HUMAN = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                      "code": "humanuser", "display": "human user"}]}
_CLINICIAN = {"system": "http://hl7.org/fhir/sample-security-structural-roles",
              "code": "regulated-health-professionals", "display": "Regulated health professionals"}
_PATIENT_RECORD = [{"coding": [{"system": _DCM, "code": "110110", "display": "Patient Record"}]}]
BIGINT_MAX = 2**63 - 1
_READS = ("read", "search", "everything", "list")
_CREATES = ("create", "record", "register", "prescribe", "admit", "book", "open", "grant")


def crud(action: str) -> str:
    verb = action.rsplit("/", 1)[-1]
    return "R" if verb in _READS else "C" if verb in _CREATES else "E"


def interaction(action: str) -> dict[str, str]:
    """The guide's event subtype: a FHIR interaction, or the DICOM login/logout event."""
    verb = action.rsplit("/", 1)[-1]
    if verb in ("login", "logout"):
        return {"system": _DCM, "code": "110122" if verb == "login" else "110123", "display": verb.title()}
    code = {"R": "search" if verb in ("search", "list") else "read", "C": "create"}.get(
        crud(action), "delete" if verb in ("delete", "revoke") else "update")
    return {"system": _INTERACTION, "code": code}


async def audit_event(req: FhirRequest, row: Any) -> FhirItem:
    who: dict[str, Any] = {"display": row.login or "anonymous"}
    if row.actor and row.role not in (None, "patient", "operator"):
        who["reference"] = f"Practitioner/{row.actor}"
    clinician = row.role in CLINICAL_ROLES
    role = {"coding": [_CLINICIAN], "text": row.role} if clinician else {"text": row.role}
    agents: list[dict[str, Any]] = [{"type": _HUMAN, "who": who, "requestor": True,
                                     **({"role": [role]} if row.role else {})}]
    observer: dict[str, Any] = {"display": "Shifo"}
    if row.facility:
        observer["reference"] = f"Organization/{row.facility}"
    ok = row.outcome == "ok"
    outcome: dict[str, Any] = {"code": {"system": OUTCOME_SYSTEM, "code": "success" if ok else "error"}}
    if not ok:
        outcome["detail"] = [{"text": f"{row.outcome}: {row.detail or ''}".strip(": ")}]
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": f"{row.chain}-{row.seq}",
        "code": {"coding": [interaction(row.action), {"system": ACTION_SYSTEM, "code": row.action}],
                 "text": row.action},
        "action": crud(row.action), "recorded": row.at.isoformat(), "outcome": outcome, "agent": agents,
        "source": {"observer": observer}}
    if clinician:
        resource["meta"] = {"profile": [uz_core("uz-core-auditevent")]}
    if row.object:
        resource["entity"] = [{"what": {"display": row.object}}]
    if row.patient:
        resource["category"] = _PATIENT_RECORD
        resource["patient"] = (await req.patient_ref(row.patient) if DIRECTORY in req.services
                               else {"identifier": {"system": req.pinfl_system, "value": row.patient}})
    return FhirItem(resource=resource, patient=row.patient, when=row.at, version="1",  # never changed
                    updated=row.at)


def _scoped(req: FhirRequest, stmt: Any) -> Any:
    assert isinstance(req, HostRequest), "host providers run with a HostRequest"
    return stmt.where(audit_log.c.facility == req.facility) if req.staff else stmt


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    c = audit_log.c
    order = (c.at, c.chain, c.seq) if query.ascending else (c.at.desc(), c.chain.desc(), c.seq.desc())
    stmt = _scoped(req, select(audit_log)).order_by(*order)
    stmt = stmt.limit(query.limit)
    if query.patient:
        stmt = stmt.where(c.patient == query.patient)
    for since in (query.since, query.updated_since):  # an entry is never changed: both are ``at``
        if since:
            stmt = stmt.where(c.at >= since)
    for until in (query.until, query.updated_until):
        if until:
            stmt = stmt.where(c.at < until)
    return [await audit_event(req, r) for r in await req.tx.execute(stmt)]


async def read(req: FhirRequest, rid: str) -> FhirItem | None:
    chain, dash, seq = rid.partition("-")
    if not (dash and rid.isascii() and chain.isdigit() and seq.isdigit() and len(rid) < 24):
        return None
    if int(chain) >= CHAINS or int(seq) > BIGINT_MAX:  # no such entry (and SMALLINT/BIGINT would overflow)
        return None
    c = audit_log.c
    stmt = _scoped(req, select(audit_log).where(c.chain == int(chain), c.seq == int(seq)))
    row = (await req.tx.execute(stmt)).first()
    return await audit_event(req, row) if row else None


def provider() -> Provider:
    return Provider(resource=FhirResource(type="AuditEvent", object="fhir.audit", action="read", read=read,
                                          search=search, params=("patient", "date", "_lastUpdated"),
                                          sorts=("date", "_lastUpdated")),
                    roles=frozenset({"doctor"}), everything=False)
