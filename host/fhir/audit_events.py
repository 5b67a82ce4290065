"""The audit trail as FHIR R5 ``AuditEvent`` (id ``<chain>-<seq>``, the entry's place in its chain).

Who may read: a doctor at the facility they act for, that facility's events only (nurses,
residents and pharmacists see no one's access log; the operator reads audit through its own
tools, never clinical FHIR); a patient, the events on their own record (the engine forces
``patient`` to theirs), to see who opened their card. Client addresses and request ids stay
out of the resource. Search: ``patient`` and ``date``, newest first. AuditEvents are not
part of ``Patient/$everything``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from host.audit import CHAINS, audit_log
from host.fhir.registry import HostRequest, Provider
from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource
from ports.directory import SERVICE as DIRECTORY

ACTION_SYSTEM = "urn:shifo:audit-action"  # "medcard.entry/read", "fhir.Observation/search", ...
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
BIGINT_MAX = 2**63 - 1
_READS = ("read", "search", "everything", "list")
_CREATES = ("create", "record", "register", "prescribe", "admit", "book", "open", "grant")


def crud(action: str) -> str:
    verb = action.rsplit("/", 1)[-1]
    return "R" if verb in _READS else "C" if verb in _CREATES else "E"


async def audit_event(req: FhirRequest, row: Any) -> FhirItem:
    who: dict[str, Any] = {"display": row.login or "anonymous"}
    if row.actor and row.role not in (None, "patient", "operator"):
        who["reference"] = f"Practitioner/{row.actor}"
    agents: list[dict[str, Any]] = [{"who": who, "requestor": True,
                                     **({"role": [{"text": row.role}]} if row.role else {})}]
    if row.facility:
        agents.append({"who": {"reference": f"Organization/{row.facility}"}, "requestor": False})
    ok = row.outcome == "ok"
    outcome: dict[str, Any] = {"code": {"system": OUTCOME_SYSTEM, "code": "0" if ok else "4"}}
    if not ok:
        outcome["detail"] = [{"text": f"{row.outcome}: {row.detail or ''}".strip(": ")}]
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": f"{row.chain}-{row.seq}",
        "code": {"coding": [{"system": ACTION_SYSTEM, "code": row.action}], "text": row.action},
        "action": crud(row.action), "recorded": row.at.isoformat(), "outcome": outcome, "agent": agents,
        "source": {"observer": {"display": "Shifo"}}}
    if row.object:
        resource["entity"] = [{"what": {"display": row.object}}]
    if row.patient:
        resource["patient"] = (await req.patient_ref(row.patient) if DIRECTORY in req.services
                               else {"identifier": {"system": req.pinfl_system, "value": row.patient}})
    return FhirItem(resource=resource, patient=row.patient, when=row.at)


def _scoped(req: FhirRequest, stmt: Any) -> Any:
    assert isinstance(req, HostRequest), "host providers run with a HostRequest"
    return stmt.where(audit_log.c.facility == req.facility) if req.staff else stmt


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    c = audit_log.c
    stmt = _scoped(req, select(audit_log)).order_by(c.at.desc(), c.chain.desc(), c.seq.desc())
    stmt = stmt.limit(query.limit)
    if query.patient:
        stmt = stmt.where(c.patient == query.patient)
    if query.since:
        stmt = stmt.where(c.at >= query.since)
    if query.until:
        stmt = stmt.where(c.at < query.until)
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
                                          search=search, params=("patient", "date")),
                    roles=frozenset({"doctor"}), everything=False)
