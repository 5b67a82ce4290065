"""Hook implementations of the polyclinic module: thin, pointing at the slice's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.pluginapi import (
    Action,
    DemoData,
    EventHandler,
    FeedEvent,
    FhirResource,
    ModuleInfo,
    PolicyRule,
    hookimpl,
    load_policy,
)
from plugins.polyclinic import INFO, demo, fhir, inbound, patient_api
from plugins.polyclinic.api import AppointmentController, ModuleController, VisitController

HERE = Path(__file__).parent


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [ModuleController, AppointmentController, VisitController]


@hookimpl
def shifo_actions() -> list[Action]:
    return [
        Action(object="polyclinic.module", action="read", description="see that the module answers"),
        Action(object="polyclinic.schedule", action="manage", description="add a doctor's slots"),
        Action(object="polyclinic.queue", action="read", description="see a doctor's queue of the day"),
        Action(object="polyclinic.appointment", action="book", description="book, cancel, mark no-show"),
        Action(object="polyclinic.visit", action="open", description="check in or open a walk-in visit"),
        Action(object="polyclinic.visit", action="close", description="close a visit with its diagnosis"),
        Action(object="polyclinic.visit", action="read", description="read a visit and its outpatient card"),
        Action(object="polyclinic.referral", action="create", description="refer or order an examination"),
    ]


@hookimpl
def shifo_policies() -> list[PolicyRule]:
    return load_policy(HERE / "policy.csv")


@hookimpl
def shifo_migrations() -> str:
    return str(HERE / "migrations")


@hookimpl
def shifo_event_handlers() -> list[EventHandler]:
    return list(inbound.HANDLERS)


@hookimpl
def shifo_patient_routes() -> list[Any]:
    return list(patient_api.HANDLERS)


@hookimpl
def shifo_fhir_resources() -> list[FhirResource]:
    return list(fhir.RESOURCES)


@hookimpl
def shifo_patient_feed() -> list[FeedEvent]:
    """The patient's visits, opened and closed."""
    return [FeedEvent(type="polyclinic.visit_opened", kind="visit", status="open"),
            FeedEvent(type="polyclinic.visit_closed", kind="visit", status="closed")]


@hookimpl
def shifo_demo_data() -> DemoData:
    return demo.DEMO
