"""The plugin contract: every hook a Shifo module may implement.

This module is the reference for plugin authors. A module is a pluggy plugin (usually a module
object) registered under the ``shifo.plugins`` entry-point group; mark implementations with
``host.pluginapi.hookimpl``. All hooks are synchronous and called once at start-up, unless a
docstring says otherwise. Hooks added later are optional for existing modules; a hook's
parameter is retired with a deprecation warning before it is removed.

Since 0.1.0 unless stated; a "Since" is never newer than the package version (a test checks).
"""

from __future__ import annotations

from typing import Any

import pluggy

from host.pluginapi import (
    PROJECT,
    Action,
    CliCommand,
    DemoData,
    EventHandler,
    FeedEvent,
    FhirResource,
    ModuleInfo,
    PolicyRule,
)

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

    A resource with a ``create`` (and its ``write_object``/``write_action``, the native record
    route's permission) may be created in a ``transaction`` Bundle (``POST /fhir``). The host
    validates the Bundle, checks every entry's permission first (a Bundle with one entry the caller
    may not write is refused whole), then runs all entries in one write transaction: ``create``
    receives a :class:`~host.pluginapi.FhirWrite` (``tx``, and ``ctx`` as a route handler's) and the
    entry's resource, writes it as the native route does (events, audit), and returns the created
    resource. Any error it raises rolls back the whole Bundle; the host names the entry.
    """


@hookspec
def shifo_patient_feed() -> list[FeedEvent]:  # type: ignore[empty-body]
    """Name the module's events the patient sees on their live stream, with the record each is about.

    Since 0.2.0. Called once at start-up. Only the event types listed by an enabled module reach the
    patient's stream (``/api/v1/patient/stream``); each is shown as ``{"kind", "type", "event_id",
    "at", "status", ...}`` with the event's fields, never the staff ids it carries. List only types
    of the module's own namespace (``<module>.``): start-up fails otherwise, or on a type listed twice.
    """


# --- settings and operations ------------------------------------------------------------------


@hookspec
def shifo_settings() -> type[Any] | None:
    """Return the msgspec schema (a ``msgspec.Struct`` type) of the module's settings, or None.

    Since 0.2.0. The section is ``SHIFO_EXTRA``'s key of the module's name (``{"erecipe": {...}}``);
    a missing section is ``{}``, so give every field a default. The host converts it when it loads
    the modules, before anything else runs: a bad section stops every ``shifo`` command with exit 2
    and one line naming the module and the field. Raise ``ValueError`` in ``__post_init__`` for
    checks a type cannot say. Handlers read the result as ``ctx.settings`` (CLI commands as
    ``CommandContext.settings``), never from the app's state.
    """


@hookspec
def shifo_cli_commands() -> list[CliCommand]:  # type: ignore[empty-body]
    """Add the module's operator commands: ``shifo <module> <name>``.

    Since 0.2.0. Called once when the ``shifo`` command builds its parser, for the enabled modules
    only. ``run`` is ``async``; it receives the connected storage, the services and the module's
    settings in a :class:`CommandContext` (the relay is not running), prints its result and returns
    the exit code. Raise ``core.errors.ConfigurationError`` for an operator error (exit 2).
    """


@hookspec
def shifo_demo_data() -> DemoData | None:
    """Say which demo facilities install the module and record its part of ``shifo demo``.

    Since 0.2.0. ``shifo demo`` makes the demo facilities (kinds ``polyclinic``, ``hospital``,
    ``pharmacy``) and accounts, installs each module at the facility kinds it names, then runs
    the steps of every enabled module in ``order``, through the HTTP API as clinicians would (see
    :class:`DemoClinic`). Steps must be idempotent: a second ``shifo demo`` adds nothing.
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

    Each handler is called after the event's transaction committed, at least once and in commit
    order per patient, inside a transaction the host opens; an event the consumer already handled
    is skipped. With the in-process messaging adapter the relay calls it, usually in one
    transaction shared by every consumer of a batch; with a durable adapter (``nats``) the
    consumer's own group takes the events from the broker, in whichever process holds the
    patient's partition, one transaction per batch and consumer. A handler that raises rolls that
    transaction back; the events are then delivered one by one, each in a transaction of its own,
    and the failing delivery is retried with backoff, then parked (``shifo events failed``). So a
    handler may be called again for an event whose transaction rolled back; it writes only
    through ``tx`` and never swallows a database error. Handlers are ``async`` and must not depend
    on other consumers having run. ``EventHandler.accepts`` narrows the events offered (an ignored
    event then costs nothing); ``EventHandler.handle_batch`` takes a batch's new events at once and
    must equal ``handle`` applied to each in order.
    """


@hookspec
def shifo_services() -> dict[str, Any]:  # type: ignore[empty-body]
    """Offer services (port implementations) to other modules, by name.

    Called once at start-up. Values are factories ``f(storage) -> service``; a factory with a
    ``settings`` keyword parameter is also given the module's validated settings (see
    ``shifo_settings``; since 0.2.0). Other modules reach a service through ``ctx.services[name]``
    and its Protocol in ``ports``, never by import.
    """
