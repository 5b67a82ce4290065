"""Hook implementations of the medical card: thin, pointing at the slice's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.pluginapi import Action, EventHandler, FhirResource, ModuleInfo, PolicyRule, hookimpl, load_policy
from plugins.medcard import INFO, directory, fhir, module_records, patient_api
from plugins.medcard.api import CardController, ModuleController, PatientController, RecordsController
from plugins.medcard.entry_routes import (
    ComplaintController,
    DiagnosisController,
    EntriesAliasController,
    FindingController,
    IndicatorController,
    InstrumentalController,
    LabController,
)
from plugins.medcard.report_routes import ReportController
from ports.directory import SERVICE as DIRECTORY

HERE = Path(__file__).parent
_RECORD = "record, correct and mark entered in error"


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [ModuleController, PatientController, CardController, IndicatorController,
            EntriesAliasController, DiagnosisController, LabController, InstrumentalController,
            ComplaintController, FindingController, ReportController, RecordsController]


@hookimpl
def shifo_actions() -> list[Action]:
    return [
        Action(object="medcard.module", action="read", description="see that the module answers"),
        Action(object="medcard.patient", action="register", description="register a patient"),
        Action(object="medcard.patient", action="read", description="find and read a patient"),
        Action(object="medcard.indicator", action="record", description=f"{_RECORD} vital signs"),
        Action(object="medcard.diagnosis", action="record", description=f"{_RECORD} diagnoses"),
        Action(object="medcard.lab", action="record", description=f"{_RECORD} laboratory results"),
        Action(object="medcard.instrumental", action="record",
               description=f"{_RECORD} instrumental results"),
        Action(object="medcard.complaint", action="record",
               description=f"{_RECORD} complaints and the history of the present illness"),
        Action(object="medcard.finding", action="record",
               description=f"{_RECORD} objective examination findings"),
        Action(object="medcard.entry", action="read", description="read a patient's card and history"),
        Action(object="medcard.report", action="read", description="late-entry and completeness reports"),
    ]


@hookimpl
def shifo_policies() -> list[PolicyRule]:
    return load_policy(HERE / "policy.csv")


@hookimpl
def shifo_migrations() -> str:
    return str(HERE / "migrations")


@hookimpl
def shifo_services() -> dict[str, Any]:
    """The patient directory (``ports.directory.PatientDirectory``) for the other modules."""
    return {DIRECTORY: directory.create}


@hookimpl
def shifo_event_handlers() -> list[EventHandler]:
    """Prescriptions, visits and stays of the other modules, projected onto the card."""
    return [module_records.HANDLER]


@hookimpl
def shifo_patient_routes() -> list[Any]:
    return list(patient_api.HANDLERS)


@hookimpl
def shifo_fhir_resources() -> list[FhirResource]:
    return list(fhir.RESOURCES)
