"""Hook implementations of the hospital module: thin, pointing at the slice's parts."""

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
from plugins.hospital import INFO, demo, fhir, inbound, patient_api
from plugins.hospital.api import ModuleController, StayController, WardController

HERE = Path(__file__).parent


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [ModuleController, WardController, StayController]


@hookimpl
def shifo_actions() -> list[Action]:
    return [
        Action(object="hospital.module", action="read", description="see that the module answers"),
        Action(object="hospital.ward", action="manage", description="add wards and beds"),
        Action(object="hospital.ward", action="read", description="see wards, beds and the census"),
        Action(object="hospital.stay", action="admit", description="admit a patient to a bed"),
        Action(object="hospital.stay", action="transfer", description="move a patient to another bed"),
        Action(object="hospital.stay", action="discharge", description="discharge a patient"),
        Action(object="hospital.stay", action="read", description="read stays, pending admissions, cards"),
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
    """The patient's stays: admitted, transferred, discharged."""
    return [FeedEvent(type="hospital.admitted", kind="stay", status="admitted"),
            FeedEvent(type="hospital.transferred", kind="stay", status="transferred"),
            FeedEvent(type="hospital.discharged", kind="stay", status="discharged")]


@hookimpl
def shifo_demo_data() -> DemoData:
    return demo.DEMO
