"""Routes of the FHIR facade, built from the resources the host and the enabled modules serve.

Per type: ``GET /fhir/<Type>`` (search), ``GET /fhir/<Type>/{id}`` (read, with ``ETag`` and
``Last-Modified``; ``If-None-Match`` naming the current version answers 304) and
``GET /fhir/<Type>/{id}/_history/{vid}`` (a version); plus ``GET /fhir/Patient/{id}/$everything``,
the public ``GET /fhir/metadata`` and ``POST /fhir`` (a transaction Bundle of creates,
:mod:`host.fhir.transaction`). Every route answers JSON only: an ``Accept`` that admits none of
:data:`ACCEPTED` (and no ``_format=json`` overriding it) is a 406. Each route
declares the first provider's permission with ``patients=True`` and ``facility_scoped=False``:
the guard authenticates (staff, or a patient for their own compartment) and
:mod:`host.fhir.access` decides per provider, so a type served by two modules obeys both
modules' rules. Errors are OperationOutcomes (see :mod:`host.fhir.outcome`).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import ClientException
from litestar.params import FromPath, JSONBody

from core.clock import utcnow
from host.fhir import access, capability, engine, everything, host_resources, registry, transaction, versions
from host.fhir.outcome import MEDIA_TYPE, json_response
from host.fhir.search import FORMATS
from host.pluginapi import FhirItem, public, requires
from host.runtime import Runtime
from host.settings import Settings

Req = Request[Any, Any, Any]
Answer = Response[bytes]


#: the media ranges an ``Accept`` must admit (besides ``*/*``): what the FHIR API answers in
ACCEPTED = frozenset({MEDIA_TYPE, "application/json", "application/*", "application/json+fhir"})


def _base(request: Req) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def negotiate(request: Req) -> None:
    """406 (an OperationOutcome) unless ``Accept`` admits JSON or ``_format`` asks for it."""
    accept = request.headers.get("accept")
    if not accept or request.query_params.get("_format") in FORMATS:
        return
    for part in accept.split(","):
        kind, *options = [x.strip() for x in part.split(";")]
        zero = any(o.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000") for o in options)
        if not zero and (kind.lower() == "*/*" or kind.lower() in ACCEPTED):
            return
    raise ClientException(f"this server answers in {MEDIA_TYPE} or application/json only, not {accept!r}",
                          status_code=406)


async def _call(request: Req, runtime: Runtime, settings: Settings) -> engine.Call:
    negotiate(request)
    return engine.Call(runtime=runtime, who=await access.caller(runtime, request),
                       pinfl_system=settings.fhir_pinfl_system, base=_base(request),
                       path=request.url.path.removeprefix("/fhir"))


def _params(request: Req) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def _opt(providers: list[registry.Provider], runtime: Runtime) -> dict[str, Any]:
    """The first provider's permission for the guard, and for ``shifo routes`` (``permissions``,
    ``who``) what :mod:`host.fhir.access` really admits: every provider's permission and roles."""
    first, allows = providers[0].resource, runtime.authorizer.roles_for
    roles = {r for p in providers
             for r in (p.roles if p.module is None else allows(p.resource.object, p.resource.action))}
    return {**requires(first.object, first.action, patients=True, facility_scoped=False),
            "permissions": " | ".join(dict.fromkeys(p.permission for p in providers)),
            "who": ", ".join([*sorted(roles), "patient (own record)"])}


def _routes(type_: str, providers: list[registry.Provider], runtime: Runtime,
            settings: Settings) -> list[Any]:
    @get(f"/{type_}", opt=_opt(providers, runtime), name=f"fhir-{type_}-search", summary=f"Search {type_}")
    async def search(request: Req) -> Answer:
        call = await _call(request, runtime, settings)
        return json_response(await engine.search(call, type_, providers, _params(request)))

    @get(f"/{type_}/{{rid:str}}", opt=_opt(providers, runtime), name=f"fhir-{type_}-read",
         summary=f"Read {type_}")
    async def read(request: Req, rid: FromPath[str]) -> Answer:
        call = await _call(request, runtime, settings)
        return _resource(request, await engine.read(call, type_, providers, rid))

    @get(f"/{type_}/{{rid:str}}/_history/{{vid:str}}", opt=_opt(providers, runtime),
         name=f"fhir-{type_}-vread", summary=f"Read a version of {type_}")
    async def vread(request: Req, rid: FromPath[str], vid: FromPath[str]) -> Answer:
        """The resource as it was at ``meta.versionId`` ``vid``, with its ETag. Card entries keep
        every version; other types answer only their current one. An unknown version is a 404."""
        call = await _call(request, runtime, settings)
        return _resource(request, await engine.read(call, type_, providers, rid, vid))

    return [search, read, vread]


def _resource(request: Req, item: FhirItem) -> Answer:
    """The resource with its ``ETag``/``Last-Modified``; 304 (no body) if ``If-None-Match`` names it."""
    headers = versions.headers(item)
    if versions.not_modified(request.headers.get("if-none-match"), item):
        return Response(b"", status_code=304, headers=headers)
    response = json_response(versions.stamped(item))
    response.headers.update(headers)
    return response


def handlers(runtime: Runtime, settings: Settings) -> list[Any]:
    by_type = registry.collect(host_resources.providers(), runtime.modules.fhir_resources())
    built = utcnow().isoformat(timespec="seconds")

    @get("/metadata", opt=public(), name="fhir-metadata", summary="CapabilityStatement")
    async def metadata(request: Req) -> Answer:
        """The CapabilityStatement: the types, interactions, search parameters and formats served."""
        negotiate(request)
        return json_response(capability.statement(by_type, _base(request), built))

    @post("/", opt=requires("fhir.transaction", "post", facility_scoped=False), name="fhir-transaction",
          summary="Transaction Bundle (creates)", status_code=200)
    async def transact(request: Req, data: JSONBody[dict[str, Any]]) -> Answer:
        """A ``transaction`` Bundle of creates, all or nothing (:mod:`host.fhir.transaction`): staff
        only (a patient-app token is a 401, as on any staff route); each entry's native record
        permission is checked in the caller's facility."""
        call = await _call(request, runtime, settings)
        try:
            return json_response(await transaction.run(call, by_type, data))
        except transaction.Refused as refused:
            return json_response(refused.outcome, refused.status)

    routes: list[Any] = [metadata, transact]
    for type_, providers in by_type.items():
        routes += _routes(type_, providers, runtime, settings)
    if "Patient" in by_type:
        @get("/Patient/{rid:str}/$everything", opt=_opt(by_type["Patient"], runtime),
             name="fhir-Patient-everything", summary="Patient $everything")
        async def patient_everything(request: Req, rid: FromPath[str]) -> Answer:
            """A ``searchset`` Bundle of the patient and every resource of their record the caller
            may read."""
            call = await _call(request, runtime, settings)
            return json_response(await everything.everything(call, by_type, rid, _params(request)))

        routes.append(patient_everything)
    return routes
