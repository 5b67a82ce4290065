"""``Patient/{id}/$everything``: the Patient and every item of its compartment, as one searchset.

The Patient comes first, then the items of every type whose provider searches by ``patient``
(and is part of ``$everything``: not AuditEvent), newest first, paged with ``_count`` /
``_offset`` like any search. Staff need the Patient type's read permission and get only the
types they may read at their facility; a patient only their own record (403 for another id,
whether it exists or not).
"""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException, PermissionDeniedException

from host.fhir import access, bundle
from host.fhir.engine import Call, audited, own_id
from host.fhir.registry import Provider
from host.fhir.search import ID, parse
from host.pluginapi import FhirItem, FhirQuery


async def everything(call: Call, by_type: dict[str, list[Provider]], rid: str,
                     params: list[tuple[str, str]]) -> dict[str, Any]:
    s = parse(params, (), search=False)
    readers = await access.usable(call.runtime, call.who, by_type["Patient"], call.full_path)
    others = [p for type_, providers in by_type.items() if type_ != "Patient" for p in providers
              if p.everything and "patient" in p.resource.params
              and await access.may_use(call.runtime, call.who, p)]
    found: list[FhirItem] = []
    async with call.runtime.storage.transaction(readonly=True) as tx:
        if call.who.pinfl is not None and rid != await own_id(call, tx):
            refusal = PermissionDeniedException("a patient may read only their own record")
            await access.refused(call.runtime, call.who, "fhir.Patient/everything", call.full_path, refusal)
            raise refusal
        req = call.requests(tx)
        patient = None
        for provider in readers if ID.match(rid) else []:
            patient = await provider.resource.read(req[provider.module is None], rid)
            if patient is not None:
                break
        if patient is None or patient.patient is None:
            raise NotFoundException(f"no Patient {rid}")
        query = FhirQuery(patient=patient.patient, limit=s.offset + s.count + 1)
        for provider in others:
            hits = await provider.resource.search(req[provider.module is None], query)
            found += [i for i in hits if i.patient == patient.patient]
    found = [patient, *bundle.merged(found)]
    await audited(call, "fhir.Patient/everything", found[s.offset: s.offset + s.count] or [patient],
                  f"Patient/{rid}")
    return bundle.searchset(call.base, call.path, found, offset=s.offset, count=s.count)
