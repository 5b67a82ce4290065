"""The plugin API: everything a module may import from the host, and nothing else.

A module implements hooks (see :mod:`host.hookspecs`) marked with :data:`hookimpl`, declares the
permission of every route with :func:`requires`, and receives a :class:`Context` in its handlers.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

import msgspec
import pluggy
from litestar import Controller, get
from litestar.di import NamedDependency

from core.events import Event
from core.principals import Principal
from ports import encounter_card, encounters
from ports.audit import AuditTrail
from ports.conflicts import run_unit
from ports.directory import SERVICE as DIRECTORY
from ports.directory import PatientSummary
from ports.encounters import Encounters
from ports.storage import Storage, Transaction

T = TypeVar("T")

PROJECT = "shifo"
hookimpl = pluggy.HookimplMarker(PROJECT)

PrincipalKind = Literal["staff", "patient", "operator"]


class ModuleInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a module says about itself (hook ``shifo_module_info``)."""

    name: str  # the mount point /api/v1/<name>/ and the namespace of its actions
    title: str
    version: str
    requires: tuple[str, ...] = ()


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """A permission a module declares: ``object`` is namespaced ``<module>.<thing>``."""

    object: str
    action: str
    description: str = ""


class PolicyRule(msgspec.Struct, frozen=True, kw_only=True):
    """Grant ``action`` on ``object`` to a clinical ``role`` (hook ``shifo_policies``)."""

    role: str
    object: str
    action: str


EventHandlerFn = Callable[[Event, Transaction], Awaitable[None]]
BatchHandlerFn = Callable[[Sequence[Event], Transaction], Awaitable[None]]


class EventHandler(msgspec.Struct, frozen=True, kw_only=True):
    """Subscribe ``handle`` to catalogue event types (hook ``shifo_event_handlers``).

    ``consumer`` names the handler for idempotency and the failed-events list; keep it stable.
    ``handle`` runs inside a transaction the host opens and skips events it already handled.
    With the in-process messaging adapter that transaction is usually shared with the other
    consumers of the batch and commits once; with a durable one (``nats``) each consumer takes its
    events from the broker in a transaction of its own, in any process. Either way, if the handler
    raises its transaction rolls back and the events are offered again one by one. So write only
    through ``tx``, never catch a database error and carry on, and expect to be called again for an
    event whose transaction rolled back.
    ``accepts``, if given, says which events of those types concern the consumer at all: the relay
    offers it no others, so an ignored event costs no transaction. ``handle_batch``, if given,
    receives several new events at once in commit order and must do exactly what ``handle`` would
    do for each in turn; it lets a consumer answer a batch with one query instead of one per
    event. ``handle`` still takes single events (retries, and a batch that failed).
    """

    consumer: str
    event_types: tuple[str, ...]
    handle: EventHandlerFn
    accepts: Callable[[Event], bool] | None = None
    handle_batch: BatchHandlerFn | None = None


class Permission(msgspec.Struct, frozen=True, kw_only=True):
    object: str
    action: str
    principal: PrincipalKind = "staff"
    facility_scoped: bool = True
    #: A staff route that a patient may also call, confined to their own compartment (FHIR).
    patients: bool = False


def requires(
    object: str, action: str, *, principal: PrincipalKind = "staff", facility_scoped: bool = True,
    patients: bool = False,
) -> dict[str, Any]:
    """Route ``opt`` declaring the permission a route needs: ``@get("/", opt=requires(...))``.

    Staff permissions are checked in the facility chosen for the request (``X-Facility`` header).
    ``patients=True`` also admits patient accounts, which the handler must confine to their own
    record (the FHIR facade does).
    """
    return {"permission": Permission(object=object, action=action, principal=principal,
                                     facility_scoped=facility_scoped, patients=patients)}


def own_record(object: str) -> dict[str, Any]:
    """Route ``opt`` of a patient-app route (hook ``shifo_patient_routes``): the caller is a patient
    and the handler reads only ``ctx.patient``, their own PINFL, never an id from the request."""
    return requires(object, "read", principal="patient", facility_scoped=False)


def public() -> dict[str, Any]:
    """Route ``opt`` for the few routes that need no authentication (health, login)."""
    return {"permission": "public"}


class AuditFn(Protocol):
    """What :meth:`Context.audit_batch` yields: called as :meth:`Context.audit` is."""

    async def __call__(self, tx: Transaction, action: str, *, patient: str | None = None,
                       object: str | None = None, outcome: str = "ok", detail: str | None = None) -> None: ...


class Context(msgspec.Struct, kw_only=True):
    """What a route handler receives as ``ctx``: the caller and the host's ports."""

    principal: Principal | None
    facility: str | None
    storage: Storage
    services: dict[str, Any]
    request_id: str
    client: str
    trail: AuditTrail
    #: the module's settings (hook ``shifo_settings``), validated at start-up; None without a schema
    settings: Any = None
    #: asks the identity port again whether the request's token is still live (set by the host)
    session_check: Callable[[], Awaitable[bool]] | None = None
    #: the guard's decision for another permission, asked in the request's facility (set by the host)
    permits: Callable[[str, str], Awaitable[bool]] | None = None

    async def may(self, object: str, action: str) -> bool:
        """May the caller do ``action`` on ``object`` here, as the guard would decide for a route
        declaring ``requires(object, action)``: their roles at the request's facility allow it and
        the object's module is installed there. For a route whose body carries several things each
        with its own permission (an examination's entries): the route's own permission admits the
        caller, the handler asks this for each part. False without a staff caller and facility."""
        return False if self.permits is None else await self.permits(object, action)

    async def signed_in(self) -> bool:
        """Is the caller's session still live (not logged out, expired, suspended)? For responses
        that outlive their request, such as a stream: ask every few seconds, end when False."""
        return True if self.session_check is None else await self.session_check()

    @property
    def user_id(self) -> UUID | None:
        return self.principal.id if self.principal else None

    @property
    def facility_id(self) -> str:
        """The request's facility on a facility-scoped route (the guard always sets one)."""
        if self.facility is None:
            raise PermissionError("no facility: not a facility-scoped route")  # the guard sets one
        return self.facility

    @property
    def caller_id(self) -> UUID:
        """The calling account on an authenticated route."""
        if self.principal is None:
            raise PermissionError("nobody signed in")  # the guard never lets one through
        return self.principal.id

    @property
    def patient(self) -> str:
        """The PINFL of the calling patient: the only record a patient route may touch."""
        if self.principal is None or self.principal.kind != "patient" or not self.principal.pinfl:
            raise PermissionError("not a patient with a PINFL")  # the guard never lets one through
        return self.principal.pinfl

    async def transact(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run ``work(tx)`` as one write transaction, re-run whole when it loses to a concurrent
        request (deadlock, serialization failure, unique violation; a few times, then 409): see
        :func:`ports.conflicts.run_unit`. A route's state change should run through here; one that
        opens ``ctx.storage.transaction()`` itself gets no re-run, only the host's last resort
        (a conflict error that escapes answers 409)."""
        return await run_unit(self.storage, work)

    async def audit(self, tx: Transaction, action: str, *, patient: str | None = None,
                    object: str | None = None, outcome: str = "ok", detail: str | None = None) -> None:
        """Record in ``tx`` (a write transaction, so the entry commits with the change) that the
        caller did ``action`` (``"medcard.entry/read"``) on ``patient`` (PINFL) / ``object`` (an id).
        Who, role, facility, time, request id and client address are filled in from the context."""
        await self.trail.record(tx, self.principal, action, facility=self.facility, patient=patient,
                                object=object, outcome=outcome, detail=detail,
                                request_id=self.request_id, client=self.client)

    @asynccontextmanager
    async def audit_batch(self, tx: Transaction) -> AsyncIterator[AuditFn]:
        """:meth:`audit`'s twin for a unit that audits several things (an examination's entries):
        what is recorded through it is appended when the block ends, all at once (one chain lock,
        one head read, one insert), each still an entry of its own; nothing if the block raises."""
        notes: list[dict[str, str | None]] = []

        async def note(tx: Transaction, action: str, *, patient: str | None = None, object: str | None = None,
                       outcome: str = "ok", detail: str | None = None) -> None:
            notes.append({"action": action, "patient": patient, "object": object, "outcome": outcome,
                          "detail": detail})

        yield note
        if notes:
            await self.trail.record_all(tx, self.principal, notes, facility=self.facility,
                                        request_id=self.request_id, client=self.client)


def load_policy(path: str | Path) -> list[PolicyRule]:
    """Read a module's ``policy.csv``: ``role,object,action`` per line, ``#`` starts a comment."""
    rules = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            role, obj, act = (part.strip() for part in line.split(","))
            rules.append(PolicyRule(role=role, object=obj, action=act))
    return rules


#: Annotate a handler parameter as ``ctx: Ctx`` to receive the :class:`Context`.
Ctx = NamedDependency[Context]


def subscribe(consumer: str, *event_types: str) -> Callable[[EventHandlerFn], EventHandler]:
    """Decorator form of :class:`EventHandler` for module code."""

    def wrap(fn: EventHandlerFn) -> EventHandler:
        return EventHandler(consumer=consumer, event_types=tuple(event_types), handle=fn)

    return wrap


class ModuleStatus(msgspec.Struct, frozen=True):
    module: str
    title: str
    version: str
    facility: str | None


def status_controller(info: ModuleInfo) -> type[Controller]:
    """A module's ``GET /`` (permission ``<module>.module``/``read``): the module is installed at
    the caller's facility and answers. Return it among the module's route handlers."""

    class StatusController(Controller):
        path = "/"

        @get("/", opt=requires(f"{info.name}.module", "read"))
        async def status(self, ctx: Ctx) -> ModuleStatus:
            """The module is installed at the caller's facility and answers."""
            return ModuleStatus(module=info.name, title=info.title, version=info.version,
                                facility=ctx.facility)

    return StatusController


def encounter_handlers(kit: Encounters, *, also: BatchHandlerFn | None = None) -> list[EventHandler]:
    """The event handlers of an encounter module (:mod:`ports.encounters`): card entries and their
    marks, prescriptions and their cancellations join the module's encounter cards, under the
    stable consumer names ``<module>.<noun>_entries``, ``<module>.<noun>_entry_errors``,
    ``<module>.prescriptions`` and ``<module>.prescription_cancellations``. ``also`` runs after
    the entries of a batch were attached, in the same transaction (the polyclinic closes orders)."""

    async def entries(events: Sequence[Event], tx: Transaction) -> None:
        await kit.on_entries(events, tx)
        if also is not None:
            await also(events, tx)

    async def entry(event: Event, tx: Transaction) -> None:
        await entries([event], tx)

    name = f"{kit.module}.{kit.noun}"
    return [
        EventHandler(consumer=f"{name}_entries", event_types=encounters.ENTRIES, handle=entry,
                     handle_batch=entries),
        EventHandler(consumer=f"{name}_entry_errors", event_types=encounters.ERRORS, handle=kit.on_mark),
        EventHandler(consumer=f"{kit.module}.prescriptions", event_types=encounters.ISSUED,
                     handle=kit.on_issued, handle_batch=kit.on_issued_all),
        EventHandler(consumer=f"{kit.module}.prescription_cancellations", event_types=encounters.CANCELLED,
                     handle=kit.on_mark),
    ]


# --- the patient feed, the CLI and the demo (hooks ``shifo_patient_feed``, ``shifo_cli_commands``,
# ``shifo_demo_data``) ------------------------------------------------------------------------------


class FeedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event type the patient sees on their live stream (hook ``shifo_patient_feed``).

    ``type`` is the catalogue event type (``"erecipe.issued"``), ``kind`` the record it is about
    (``"prescription"``), ``status`` the record's status after the event (None: the event carries
    its own ``status`` field, or the record has none)."""

    type: str
    kind: str
    status: str | None = None


class CommandContext(msgspec.Struct, kw_only=True):
    """What a module's CLI command receives: the connected ports and its settings."""

    storage: Storage
    services: dict[str, Any]
    settings: Any = None
    #: for offline commands: a :class:`ports.signature.Signature` (the ``x509`` adapter) over a
    #: directory of trust anchors synced earlier (CA certificates, CRLs): verifies with no database
    #: and no network; an unreadable directory raises ConfigurationError
    anchored_signature: Callable[[Path], Awaitable[Any]] | None = None


CommandFn = Callable[[CommandContext, argparse.Namespace], Awaitable[int]]


class CliCommand(msgspec.Struct, frozen=True, kw_only=True):
    """``shifo <module> <name>`` (hook ``shifo_cli_commands``). ``arguments`` adds the command's
    options to its argparse parser; ``run`` prints its result and returns the exit code. A name
    ``import-<kind>`` is also ``shifo import <kind>``, beside the host's staff and patient imports."""

    name: str
    help: str
    run: CommandFn
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    #: run without connecting the deployment's ports (no database, no broker, no network), e.g. a
    #: pharmacy's offline verifier: ``ctx.services`` is empty and ``ctx.storage`` must not be used
    offline: bool = False


class DemoRefused(Exception):
    """A demo step the API refused, or one that cannot go on: it ends the demo data, reported."""


class DemoClinic(Protocol):
    """What a demo step receives (hook ``shifo_demo_data``): the demo staff, signed in to an
    in-process app with the relay off, and the state the steps share."""

    #: the demo patient account's person: pinfl, surname, given_name, patronymic, birth_date, sex
    patient: dict[str, Any]
    #: what earlier steps left for later ones (``patient_id``, ``visit_id``, ``diagnosis``, ...)
    state: dict[str, Any]

    async def request(self, method: str, path: str, body: Any, who: str | None) -> tuple[int, Any]:
        """One request as demo login ``who`` (doctor, resident, nurse, pharmacist; None: anyone),
        at that login's facility: (status, decoded JSON body)."""
        ...

    async def call(self, method: str, path: str, body: Any, who: str | None, expect: int = 201) -> Any:
        """:meth:`request`, where any status but ``expect`` raises :class:`DemoRefused`; the body."""
        ...

    async def drain(self) -> None:
        """Deliver the events written so far (the relay is off while seeding)."""
        ...

    def stop(self, reason: str) -> None:
        """Run no later step (e.g. the card already has entries), saying why in the summary."""
        ...


DemoStepFn = Callable[[DemoClinic], Awaitable[str | None]]


class DemoStep(msgspec.Struct, frozen=True, kw_only=True):
    """One step of the demo data. Steps of every module run in ``order``; ``run`` returns a phrase
    for the summary (or None). ``needs`` names the other modules it cannot do without (beyond the
    module's ``requires``): without them the step is skipped, and the summary says so."""

    order: int
    run: DemoStepFn
    needs: tuple[str, ...] = ()


class DemoData(msgspec.Struct, frozen=True, kw_only=True):
    """A module's part of ``shifo demo``: which demo facility kinds (``polyclinic``, ``hospital``,
    ``pharmacy``) install it, and the steps that record its demo data through the HTTP API."""

    facility_kinds: tuple[str, ...]
    steps: tuple[DemoStep, ...] = ()


# --- FHIR (hook ``shifo_fhir_resources``) -------------------------------------------------------


class FhirQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A search the host parsed and checked. ``patient`` is a PINFL (for a patient caller always
    their own); ``since``/``until`` bound the resource's clinical date (``until`` exclusive);
    ``identifier`` and ``code`` are tokens, ``system|value`` or a bare value. Return at most
    ``limit`` matches in ``sort`` order (default newest date first); the host pages and merges
    providers of one type. Since 0.2.0 also (each only if the provider declares it): ``updated_since``/
    ``updated_until`` bound ``_lastUpdated`` (param ``_lastUpdated``); ``sort`` is ``date``,
    ``-date``, ``_lastUpdated`` or ``-_lastUpdated`` (``FhirResource.sorts``); ``family`` (a
    surname, compare it case-insensitively) with ``birthdate`` (params ``family``, ``birthdate``)."""

    patient: str | None = None
    identifier: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    code: str | None = None
    status: str | None = None
    limit: int = 101
    updated_since: datetime | None = None
    updated_until: datetime | None = None
    sort: str = "-date"
    family: str | None = None
    birthdate: date | None = None

    @property
    def by_updated(self) -> bool:
        """Order by ``_lastUpdated`` (else by the clinical date)."""
        return self.sort.lstrip("-") == "_lastUpdated"

    @property
    def ascending(self) -> bool:
        return not self.sort.startswith("-")


class FhirItem(msgspec.Struct, frozen=True, kw_only=True):
    """One resource as FHIR R5 JSON (with ``resourceType`` and ``id``), the PINFL of the patient
    whose compartment holds it (None: in none, e.g. an Organization) and its date for ordering.
    Since 0.2.0, ``version`` and ``updated`` (where the module keeps them) become ``meta.versionId``
    and ``meta.lastUpdated`` (the host writes them into the resource), the ETag and ``Last-Modified``."""

    resource: dict[str, Any]
    patient: str | None
    when: datetime | None = None
    version: str | None = None
    updated: datetime | None = None


class FhirRequest(msgspec.Struct, kw_only=True):
    """What a provider receives: a read transaction, the services, and the patient reference helper."""

    tx: Transaction
    services: dict[str, Any]
    pinfl_system: str
    _refs: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)

    async def patient_ref(self, pinfl: str) -> dict[str, str]:
        """``{"reference": "Patient/<id>", "display": name}`` for a PINFL (ids are the card's, not
        the PINFL, so URLs and logs carry no national number)."""
        if pinfl not in self._refs:
            found = await self.services[DIRECTORY].by_pinfl(pinfl, self.tx)
            self._refs[pinfl] = (_reference(found) if found
                                 else {"identifier": {"system": self.pinfl_system, "value": pinfl}})  # type: ignore[dict-item]
        return self._refs[pinfl]


class FhirWrite(FhirRequest, kw_only=True):
    """What a writer receives (``FhirResource.create``): a *write* transaction that the host
    commits or rolls back with the whole transaction Bundle, and the caller's :class:`Context` (its
    ``principal``, ``facility``, module ``settings`` and ``audit``) as a native route's handler gets."""

    ctx: Context
    _patients: dict[UUID, PatientSummary | None] = msgspec.field(default_factory=dict)

    async def patient(self, patient_id: UUID) -> PatientSummary | None:
        """The patient with this id (None: unknown, or no directory), read once per transaction
        Bundle: its entries share this memo, so an examination's entries read their subject once.
        Answers :meth:`patient_ref` for them too. Nothing in a Bundle changes a patient."""
        if patient_id not in self._patients:
            directory = self.services.get(DIRECTORY)
            found = await directory.by_id(patient_id, self.tx) if directory else None
            self._patients[patient_id] = found
            if found is not None:
                self._refs.setdefault(found.pinfl, _reference(found))
        return self._patients[patient_id]


FhirRead = Callable[[FhirRequest, str], Awaitable[FhirItem | None]]
FhirSearch = Callable[[FhirRequest, FhirQuery], Awaitable[list[FhirItem]]]
FhirCreate = Callable[[FhirWrite, dict[str, Any]], Awaitable[FhirItem]]
FhirHistory = Callable[[FhirRequest, str, str], Awaitable[FhirItem | None]]


class FhirResource(msgspec.Struct, frozen=True, kw_only=True):
    """A module's FHIR resource type (several modules may serve one type, e.g. Encounter).

    ``object``/``action`` is the permission of the module's native read route: FHIR obeys the same
    roles, facility and installation rules. ``params`` lists the search parameters it honours among
    ``identifier patient date code status``. ``read`` answers None for an id it does not know.

    Since 0.2.0, ``create`` (optional) makes the type writable in a ``transaction`` Bundle
    (``POST /fhir``); the host checks ``write_object``/``write_action`` (the native record route's
    permission) for each entry before anything is written. It receives the entry's resource, already
    valid FHIR R5 JSON, writes it through ``req.tx`` exactly as the native route would (rows, events,
    audit) and returns the created resource as :meth:`read` would answer it. It raises
    ``core.errors.ValidationFailed`` (each ``errors`` item's ``field`` a FHIRPath below the resource,
    e.g. ``valueQuantity.value``), ``NotFound`` or ``Conflict``: the whole Bundle is rolled back.

    Since 0.2.0, ``params`` may also name ``_lastUpdated`` (the provider gives ``FhirItem.version`` and
    ``updated`` on every item and filters on ``updated``: the type is then "versioned" in the
    CapabilityStatement) and ``family``/``birthdate``; ``sorts`` names the keys (``date``,
    ``_lastUpdated``) it orders by both ways, beyond the default newest date first; ``history``
    (optional; default none: only the current version is readable) answers ``(id, versionId)`` with
    that version of the resource, or None. A type whose providers lack a parameter or sort key a
    search uses is a 400, never a search silently widened or misordered.
    """

    type: str
    object: str
    action: str
    read: FhirRead
    search: FhirSearch
    params: tuple[str, ...] = ("patient", "date")
    profile: str | None = None
    create: FhirCreate | None = None
    write_object: str | None = None
    write_action: str | None = None
    sorts: tuple[str, ...] = ()
    history: FhirHistory | None = None


def fhir_uuid(text: str) -> UUID | None:
    """A resource id as a UUID if it is one in canonical form (so one resource has one id: no
    braces, ``urn:`` or upper-case aliases), else None - a provider's ``read`` answers None then."""
    try:
        found = UUID(text)
    except (ValueError, TypeError, AttributeError):
        return None
    return found if str(found) == text else None


def fhir_token(text: str) -> tuple[str | None, str]:
    """A search token: ``system|code`` -> (system, code); a bare code -> (None, code); ``|code`` ->
    ("", code)."""
    system, bar, code = text.partition("|")
    return (system, code) if bar else (None, text)


def uz_core(profile_id: str) -> str:
    """The canonical URL of a national guide's (UZ Core) profile, e.g. ``uz_core("uz-core-patient")``:
    a resource that meets the profile claims it in ``meta.profile`` (see docs/fhir.md)."""
    return f"https://dhp.uz/fhir/core/StructureDefinition/{profile_id}"


def encounter_resource(kit: Encounters, *, object: str, statuses: dict[str, str],
                       item: Callable[[FhirRequest, Any], Awaitable[FhirItem]],
                       updated: bool = False) -> FhirResource:
    """A module's encounters (:mod:`ports.encounters`) as FHIR ``Encounter``: read by id, searched
    by patient, date (the opening) and status (``statuses`` maps the module's own to FHIR's);
    ``item`` turns one encounter row into its resource. ``object`` is the native read permission.
    ``updated``: the resource changes only when the encounter opens and closes, so ``_lastUpdated``
    (the closing, else the opening) is searchable and sortable."""

    async def read(req: FhirRequest, id: str) -> FhirItem | None:
        row = await encounter_card.one(kit, req.tx, fhir_uuid(id))
        return None if row is None else await item(req, row)

    async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
        return [await item(req, row) for row in await encounter_card.search(kit, req.tx, query, statuses)]

    last = ("_lastUpdated",) if updated else ()
    return FhirResource(type="Encounter", object=object, action="read", read=read, search=search,
                        params=("patient", "date", "status", *last), sorts=("date", *last))


def _name(p: Any) -> str:
    return " ".join(x for x in (p.surname, p.given_name, p.patronymic) if x)


def _reference(p: Any) -> dict[str, str]:
    return {"reference": f"Patient/{p.id}", "display": _name(p)}


__all__ = [
    "Action",
    "AuditFn",
    "CliCommand",
    "CommandContext",
    "Context",
    "Ctx",
    "DemoClinic",
    "DemoData",
    "DemoRefused",
    "DemoStep",
    "EventHandler",
    "FeedEvent",
    "FhirCreate",
    "FhirHistory",
    "FhirItem",
    "FhirQuery",
    "FhirRequest",
    "FhirResource",
    "FhirWrite",
    "ModuleInfo",
    "ModuleStatus",
    "Permission",
    "PolicyRule",
    "encounter_handlers",
    "encounter_resource",
    "fhir_token",
    "fhir_uuid",
    "hookimpl",
    "load_policy",
    "own_record",
    "public",
    "requires",
    "status_controller",
    "subscribe",
    "uz_core",
]
