"""The plugin contract: every hook a Shifo module may implement.

This module is the reference for plugin authors. A module is a pluggy plugin (usually a module
object) registered under the ``shifo.plugins`` entry-point group; mark implementations with
``host.pluginapi.hookimpl``. All hooks are synchronous and called once at start-up, unless a
docstring says otherwise. Hooks added later are optional for existing modules; a hook's
parameter is retired with a deprecation warning before it is removed.

Since 0.1.0 unless stated.
"""

from __future__ import annotations

from typing import Any

import pluggy

from host.pluginapi import PROJECT, Action, EventHandler, FhirResource, ModuleInfo, PolicyRule

hookspec = pluggy.HookspecMarker(PROJECT)


# --- identity ---------------------------------------------------------------------------------


@hookspec
def shifo_module_info() -> ModuleInfo:  # type: ignore[empty-body]
    """Say who the module is. **Required.**

    Called when the host loads plugins, before anything else. Return a :class:`ModuleInfo` whose
    ``name`` is the entry-point name, the mount point (``/api/v1/<name>/``) and the namespace of
    the module's actions; list in ``requires`` the modules it cannot run without (the host refuses
    to start a deployment that enables this module without them).
    """


# --- web --------------------------------------------------------------------------------------


@hookspec
def shifo_route_handlers() -> list[Any]:  # type: ignore[empty-body]
    """Return the module's Litestar controllers and route handlers.

    Called once while the app is built; the host mounts them under ``/api/v1/<module>/``. Every
    handler must declare its permission with ``opt=requires(object, action)`` (or ``public()``);
    the app refuses to start if one does not. Handlers receive the caller and the ports through a
    ``ctx: Context`` parameter.
    """


@hookspec
def shifo_patient_routes() -> list[Any]:  # type: ignore[empty-body]
    """Return the module's part of the patient's own record: handlers for the patient app (DMED).

    Since 0.2.0. Called once while the app is built; the host mounts them under
    ``/api/v1/patient/`` (pick paths that say what they are: ``/card``, ``/prescriptions``). Every
    handler must declare ``opt=own_record(object)``; the app refuses to start otherwise. A handler
    reads only ``ctx.patient`` (the caller's PINFL) and takes no patient id from the request, so a
    patient can never reach another's data. Audit the read with ``ctx.audit(..., patient=ctx.patient)``.
    """


@hookspec
def shifo_fhir_resources() -> list[FhirResource]:  # type: ignore[empty-body]
    """Serve the module's data as FHIR R5 resources under ``/fhir/<type>``.

    Since 0.2.0. Called once while the app is built. The host owns the protocol (search parsing,
    paging, Bundles, ``$everything``, OperationOutcome, the CapabilityStatement), the permission
    check (``object``/``action`` as on the native route, in the caller's facility) and the
    patient compartment (a patient caller only ever gets items whose ``patient`` is their own),
    and audits every read. Providers are ``async`` and only map the module's rows to FHIR JSON.
    """


# --- authorization ----------------------------------------------------------------------------


@hookspec
def shifo_actions() -> list[Action]:  # type: ignore[empty-body]
    """Declare the (object, action) permissions the module's routes use.

    Objects are namespaced by the module name (``erecipe.prescription``). Start-up fails on a
    duplicate declaration, or on an object outside the module's own namespace.
    """


@hookspec
def shifo_policies() -> list[PolicyRule]:  # type: ignore[empty-body]
    """Grant declared actions to clinical roles (doctor, resident, nurse, pharmacist).

    Start-up fails if a rule names a role outside that whitelist or an action nobody declared.
    """


# --- storage and events -----------------------------------------------------------------------


@hookspec
def shifo_migrations() -> str | None:
    """Return the directory of the module's Alembic revisions, or None if it has no tables.

    The module's first revision carries ``branch_labels = ("<module>",)`` and
    ``depends_on = "h0001"`` (the host's first revision: the outbox). ``shifo migrate`` applies
    the branches of the enabled modules only.
    """


@hookspec
def shifo_event_handlers() -> list[EventHandler]:  # type: ignore[empty-body]
    """Subscribe to catalogue events (``core.events``).

    The relay calls each handler after the event's transaction committed, at least once and in
    commit order per patient, inside a transaction the host opens: usually one shared by every
    consumer of a batch of events and committed once; an event the consumer already handled is
    skipped. A handler that raises rolls that transaction back; the batch is then delivered
    consumer by consumer, each in a transaction of its own, and the failing delivery is retried
    with backoff, then parked (``shifo events failed``). So a handler may be called again for an
    event whose transaction rolled back; it writes only through ``tx`` and never swallows a
    database error. Handlers are ``async`` and must not depend on other consumers having run.
    ``EventHandler.accepts`` narrows the events offered (an ignored event then costs nothing);
    ``EventHandler.handle_batch`` takes a batch's new events at once and must equal ``handle``
    applied to each in order.
    """


@hookspec
def shifo_services() -> dict[str, Any]:  # type: ignore[empty-body]
    """Offer services (port implementations) to other modules, by name.

    Called once at start-up. Values are factories ``f(storage) -> service``; other modules reach a
    service through ``ctx.services[name]`` and its Protocol in ``ports``, never by import.
    """
