"""``POST /fhir``: a FHIR ``transaction`` Bundle of creates, all or nothing.

Everything that can be checked before writing is: the Bundle as FHIR R5 (``fhir.resources``,
400), its type, each entry's request (a POST of a type some module writes, 422) and each entry's
permission (403): the writer's ``write_object``/``write_action`` in the caller's facility with the
module installed, as the guard decides for the native record route. A mix the caller may not send
is refused whole, and the refusal audited. Then every entry runs, in order, in ONE unit of work
(:func:`ports.conflicts.run_unit`) through its module's ``create``, which writes as the native
route does (rows, events, audit entries; the events and audit entries held to the end and written
at once, :mod:`host.fhir.transaction_unit`). The entries share what they read of their patients
(``FhirWrite.patient``, ``patient_ref``; a memo per attempt of the unit), so an examination's four
entries read their subject once, as the native route does. A failing entry rolls all of it back
and the answer names it: an OperationOutcome whose ``expression`` is e.g.
``Bundle.entry[2].resource.valueQuantity``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from core.errors import ShifoError
from host import audit
from host.fhir.access import Caller
from host.fhir.bundle import full_url
from host.fhir.engine import Call
from host.fhir.registry import Provider
from host.fhir.transaction_checks import Refused, at, checked, may_write, planned
from host.fhir.transaction_unit import HeldEvents
from host.pluginapi import Context, FhirItem, FhirWrite
from ports.conflicts import run_unit
from ports.directory import PatientSummary
from ports.storage import Transaction

__all__ = ["Refused", "run"]


def context(call: Call, module: str) -> Context:
    """The module's view of the caller, as a native route's handler receives it."""
    who: Caller = call.who
    rt = call.runtime

    async def permits(object: str, action: str) -> bool:  # ``ctx.may``: the guard's rule
        roles = who.principal.roles_at(who.facility) if who.facility else set()
        return (bool(roles) and who.facility is not None
                and rt.authorizer.allows(roles, who.facility, object, action)
                and await rt.module_enabled(who.facility, object.partition(".")[0]))

    return Context(principal=who.principal, facility=who.facility, storage=rt.storage, services=rt.services,
                   request_id=who.request_id or "", client=who.client, trail=audit.TRAIL,
                   settings=rt.modules.settings(module), permits=permits)


async def run(call: Call, by_type: dict[str, list[Provider]], body: dict[str, Any]) -> dict[str, Any]:
    """The ``transaction-response`` Bundle; raises :class:`Refused` (nothing written)."""
    await may_write(call, by_type)
    found = checked(body)
    writers = await planned(call, by_type, found)
    contexts = {p.module: context(call, p.module) for p in writers if p.module}

    async def work(tx: Transaction) -> list[FhirItem]:
        held, trail, refs = HeldEvents(tx), audit.Batch(), dict[str, dict[str, str]]()
        patients = dict[UUID, PatientSummary | None]()  # per attempt: a retried unit reads afresh
        batched = {m: msgspec.structs.replace(c, trail=trail) for m, c in contexts.items()}
        made = []
        for i, (entry, provider) in enumerate(zip(found, writers, strict=True)):
            req = FhirWrite(tx=held, services=call.runtime.services, pinfl_system=call.pinfl_system,
                            ctx=batched[provider.module or ""], _refs=refs, _patients=patients)
            create = provider.resource.create
            assert create is not None
            try:
                made.append(await create(req, entry["resource"]))
            except ShifoError as e:
                if e.status >= 500:
                    raise  # unavailable storage: 503 with Retry-After, as anywhere
                fields = [str(err.get("field") or "") for err in e.errors] or [""]
                raise Refused(e.status, f"Bundle.entry[{i}]: {e.detail}; nothing was written",
                              *dict.fromkeys(at(i, "resource" + (f".{f}" if f else "")) for f in fields)
                              ) from None
        await held.flush(trail)  # every entry's events, then its audit entries, at once
        return made

    made = await run_unit(call.runtime.storage, work)
    return {"resourceType": "Bundle", "type": "transaction-response",
            "entry": [_response(call.base, item.resource) for item in made]}


def _response(base: str, resource: dict[str, Any]) -> dict[str, Any]:
    meta = resource.get("meta") or {}
    location = f"{resource['resourceType']}/{resource['id']}"
    answer: dict[str, Any] = {"status": "201 Created", "location": location}
    if meta.get("versionId"):
        answer["etag"] = f'W/"{meta["versionId"]}"'
    if meta.get("lastUpdated"):
        answer["lastModified"] = meta["lastUpdated"]
    return {"fullUrl": full_url(base, resource), "resource": resource, "response": answer}
