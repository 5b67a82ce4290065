"""Hook implementations of the immunization module: thin, pointing at its parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.pluginapi import (
    Action,
    CliCommand,
    DemoData,
    DemoStep,
    FeedEvent,
    ModuleInfo,
    PolicyRule,
    hookimpl,
    load_policy,
)
from shifo_immunization import INFO, cli, demo
from shifo_immunization.api import PATIENT_HANDLERS, DoseController, StatusController
from shifo_immunization.schema import ImmunizationSettings

HERE = Path(__file__).parent


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [StatusController, DoseController]


@hookimpl
def shifo_patient_routes() -> list[Any]:
    return list(PATIENT_HANDLERS)


@hookimpl
def shifo_actions() -> list[Action]:
    return [Action(object="immunization.module", action="read", description="see that the module answers"),
            Action(object="immunization.dose", action="record", description="record a vaccine dose given"),
            Action(object="immunization.dose", action="read", description="read a patient's immunizations")]


@hookimpl
def shifo_policies() -> list[PolicyRule]:
    return load_policy(HERE / "policy.csv")


@hookimpl
def shifo_migrations() -> str:
    return str(HERE / "migrations")


@hookimpl
def shifo_patient_feed() -> list[FeedEvent]:
    """Patients see each dose on their live stream the moment it is recorded."""
    return [FeedEvent(type="immunization.dose_recorded", kind="immunization", status="given")]


@hookimpl
def shifo_settings() -> type[ImmunizationSettings]:
    return ImmunizationSettings


@hookimpl
def shifo_cli_commands() -> list[CliCommand]:
    return list(cli.COMMANDS)


@hookimpl
def shifo_demo_data() -> DemoData:
    return DemoData(facility_kinds=("polyclinic",), steps=(DemoStep(order=demo.ORDER, run=demo.vaccinate),))
