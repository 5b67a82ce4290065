"""Read and search: resolve the patient, ask the usable providers, confine, merge, audit.

The compartment rule lives here, for every provider alike: a patient caller's searches are
forced to their own PINFL (naming anyone else is a 403), and any item outside their compartment
is dropped from searches and is a 404 on read (as if it did not exist). Directory types
(:data:`~host.fhir.registry.NON_CLINICAL`) are open to them. Every answer that carries patient
data is audited, one entry per patient, before it leaves (so a failing audit withholds it).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar.exceptions import NotFoundException, PermissionDeniedException

from host import audit
from host.fhir import access, bundle
from host.fhir.access import Caller
from host.fhir.dates import bad
from host.fhir.registry import NON_CLINICAL, HostRequest, Provider
from host.fhir.search import ID, parse
from host.fhir.versions import sort_key
from host.pluginapi import FhirItem, FhirQuery, FhirRequest
from host.runtime import Runtime
from ports.directory import SERVICE as DIRECTORY
from ports.storage import Transaction

NOBODY = ""  # a ``patient`` that names no known patient: the search matches nothing
#: Types staff may search without naming a patient: the directory, and the audit trail (which a
#: doctor reads for their own facility only).
UNCONFINED = NON_CLINICAL | {"AuditEvent"}
MAX_TOTAL = 10_000  # ``_summary=count`` counts at most this many matches (as paging reaches)


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """One request: the runtime, the caller, the absolute URL of ``/fhir`` and the path below it."""

    runtime: Runtime
    who: Caller
    pinfl_system: str
    base: str
    path: str

    @property
    def full_path(self) -> str:
        return f"/fhir{self.path}"

    def requests(self, tx: Transaction) -> dict[bool, FhirRequest]:
        """By "is a host provider": modules get a plain FhirRequest, never the identity port."""
        services = self.runtime.services
        return {False: FhirRequest(tx=tx, services=services, pinfl_system=self.pinfl_system),
                True: HostRequest(tx=tx, services=services, pinfl_system=self.pinfl_system,
                                  staff=self.who.pinfl is None, facility=self.who.facility,
                                  identity=self.runtime.identity)}


def visible(who: Caller, type_: str, item: FhirItem) -> bool:
    if who.pinfl is None:
        return True
    return item.patient == who.pinfl if item.patient is not None else type_ in NON_CLINICAL


async def own_id(call: Call, tx: Transaction) -> str | None:
    directory = call.runtime.services.get(DIRECTORY)
    found = await directory.by_pinfl(call.who.pinfl, tx) if directory and call.who.pinfl else None
    return str(found.id) if found else None


async def patient_pinfl(call: Call, tx: Transaction, patient_id: str | None) -> str | None:
    """The PINFL a search is confined to: a patient's own; else the named patient's, NOBODY if
    unknown, None if no patient was named."""
    if call.who.pinfl is not None:
        if patient_id is not None and patient_id != await own_id(call, tx):
            refusal = PermissionDeniedException("a patient may search only their own record")
            await access.refused(call.runtime, call.who, "fhir.patient/search", call.full_path, refusal)
            raise refusal
        return call.who.pinfl
    if patient_id is None:
        return None
    directory = call.runtime.services.get(DIRECTORY)
    try:
        found = await directory.by_id(UUID(patient_id), tx) if directory else None
    except ValueError:
        found = None
    return found.pinfl if found else NOBODY


async def audited(call: Call, action: str, items: list[FhirItem], obj: str | None = None) -> None:
    patients = dict.fromkeys(i.patient for i in items if i.patient)
    if not patients:
        return
    who = call.who
    async with call.runtime.storage.transaction() as tx:
        for patient in patients:
            await audit.record(tx, audit.entry(who.principal, action, facility=who.facility, patient=patient,
                                               object=obj or call.full_path, request_id=who.request_id,
                                               client=who.client))


def sortable(providers: list[Provider]) -> set[str]:
    """The sort keys of a type: those all its providers order by (else ``limit`` cuts wrongly)."""
    keys = [set(p.resource.sorts) for p in providers]
    return set.intersection(*keys) if keys else set()


def _empty(query: FhirQuery) -> bool:
    """Bounds that exclude everything (``date=gt2025&date=lt2024``)."""
    return any(low is not None and high is not None and low >= high
               for low, high in ((query.since, query.until), (query.updated_since, query.updated_until)))


async def search(call: Call, type_: str, providers: list[Provider],
                 params: list[tuple[str, str]]) -> dict[str, Any]:
    allowed = await access.usable(call.runtime, call.who, providers, call.full_path)
    s = parse(params, {p for provider in providers for p in provider.resource.params},
              sortable=sortable(providers))
    chosen = [p for p in allowed if s.used <= set(p.resource.params)]  # else it would widen the search
    if (call.who.pinfl is None and type_ not in UNCONFINED and s.patient_id is None
            and s.query.identifier is None and s.query.family is None):
        raise bad(f"name the patient (patient=Patient/<id>), an identifier, or (Patient) family with "
                  f"birthdate: {type_} is not listed across patients, as the native API never lists the "
                  "records of everyone")
    found: list[FhirItem] = []
    async with call.runtime.storage.transaction(readonly=True) as tx:
        pinfl = await patient_pinfl(call, tx, s.patient_id)
        limit = MAX_TOTAL + 1 if s.summary else s.offset + s.count + 1
        query = msgspec.structs.replace(s.query, patient=pinfl, limit=limit)
        req = call.requests(tx)
        for provider in [] if pinfl == NOBODY or _empty(query) else chosen:
            hits = await provider.resource.search(req[provider.module is None], query)
            found += [i for i in hits if visible(call.who, type_, i)]
    found = bundle.merged(found, sort_key(query.sort))
    if s.summary:
        if len(found) > MAX_TOTAL:
            raise bad(f"more than {MAX_TOTAL} matches: narrow the search to count them")
        await audited(call, f"fhir.{type_}/search", found)
        return bundle.counted(call.base, call.path, len(found), s.echo)
    await audited(call, f"fhir.{type_}/search", found[s.offset: s.offset + s.count])
    return bundle.searchset(call.base, call.path, found, offset=s.offset, count=s.count, echo=s.echo)


async def _current(call: Call, tx: Transaction, chosen: list[Provider],
                   rid: str) -> tuple[Provider, FhirItem]:
    req = call.requests(tx)
    for provider in chosen if ID.match(rid) else []:
        item = await provider.resource.read(req[provider.module is None], rid)
        if item is not None:
            return provider, item
    raise LookupError(rid)


async def read(call: Call, type_: str, providers: list[Provider], rid: str,
               version: str | None = None) -> FhirItem:
    """The resource as it is now, or (``version``) as it was at that ``versionId``: a type whose
    provider keeps no history answers only its current version; any other is a 404."""
    chosen = await access.usable(call.runtime, call.who, providers, call.full_path)
    item: FhirItem | None = None
    async with call.runtime.storage.transaction(readonly=True) as tx:
        try:
            provider, item = await _current(call, tx, chosen, rid)
        except LookupError:
            item = None
        if item is not None and version is not None and version != item.version:
            past = provider.resource.history
            item = await past(call.requests(tx)[provider.module is None], rid, version) if past else None
    if item is None or not visible(call.who, type_, item):
        raise NotFoundException(f"no {type_} {rid}" + (f" version {version}" if version is not None else ""))
    await audited(call, f"fhir.{type_}/read", [item], f"{type_}/{rid}")
    return item
