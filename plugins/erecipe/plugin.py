"""Hook implementations of the erecipe module: thin, pointing at the slice's parts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from host.pluginapi import (
    Action,
    CliCommand,
    CommandContext,
    DemoData,
    EventHandler,
    FeedEvent,
    FhirResource,
    ModuleInfo,
    PolicyRule,
    hookimpl,
    load_policy,
)
from plugins.erecipe import (
    INFO,
    card_diagnoses,
    config,
    demo,
    fhir,
    medicines_api,
    medicines_cli,
    offline_api,
    offline_cli,
    offline_conflicts,
    paper_api,
    patient_api,
    qr_api,
)
from plugins.erecipe.api import (
    DevSignController,
    DispensingController,
    ModuleController,
    PrescriptionController,
)
from plugins.erecipe.lifecycle import Expiry

HERE = Path(__file__).parent
EXPIRY = "erecipe.expiry"


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [ModuleController, PrescriptionController, DispensingController, DevSignController,
            medicines_api.MedicinesController, medicines_api.DevMedicinesController,
            qr_api.QrController, offline_api.JournalController, offline_conflicts.PharmacyConflicts,
            paper_api.PaperController]


@hookimpl
def shifo_actions() -> list[Action]:
    return [
        Action(object="erecipe.module", action="read", description="see that the module answers"),
        Action(object="erecipe.prescription", action="prescribe",
               description="draft, sign, issue and cancel prescriptions, and register paper ones"),
        Action(object="erecipe.prescription", action="read", description="read prescriptions and history"),
        Action(object="erecipe.dispensing", action="read", description="find prescriptions to dispense"),
        Action(object="erecipe.dispensing", action="dispense", description="dispense, signed"),
        Action(object="erecipe.dispensing", action="upload_journal",
               description="upload the pharmacy's offline dispense journal, each entry signed"),
        Action(object="erecipe.dispensing", action="resolve",
               description="list and resolve the conflicts of the facility's offline dispenses"),
        Action(object="erecipe.medicines", action="read",
               description="search and read the medicines register (also as FHIR Medication)"),
        Action(object="erecipe.devsign", action="use",
               description="demo only (dev adapter): sign with one's dev key held by the server, and "
                           "load the demo medicines register"),
    ]


@hookimpl
def shifo_policies() -> list[PolicyRule]:
    return load_policy(HERE / "policy.csv")


@hookimpl
def shifo_migrations() -> str:
    return str(HERE / "migrations")


@hookimpl
def shifo_event_handlers() -> list[EventHandler]:
    """The card's diagnosis entries, kept so that issuing can check the prescription's diagnosis."""
    return [card_diagnoses.HANDLER]


@hookimpl
def shifo_services() -> dict[str, Any]:
    """The expiry sweep: ``sweep()`` on demand; the host runs it periodically while serving."""
    return {EXPIRY: Expiry}


@hookimpl
def shifo_patient_routes() -> list[Any]:
    return [*patient_api.HANDLERS, qr_api.my_qr]


@hookimpl
def shifo_fhir_resources() -> list[FhirResource]:
    return list(fhir.RESOURCES)


@hookimpl
def shifo_patient_feed() -> list[FeedEvent]:
    """The patient sees their prescriptions issued, cancelled, dispensed (a dispense carries its
    own status: partially or fully dispensed) and expired."""
    return [FeedEvent(type="erecipe.issued", kind="prescription", status="issued"),
            FeedEvent(type="erecipe.cancelled", kind="prescription", status="cancelled"),
            FeedEvent(type="erecipe.dispensed", kind="prescription"),
            FeedEvent(type="erecipe.expired", kind="prescription", status="expired")]


@hookimpl
def shifo_settings() -> type[config.Settings]:
    return config.Settings


async def _expire(ctx: CommandContext, args: argparse.Namespace) -> int:
    count = await ctx.services[EXPIRY].sweep()
    print(f"expired {count} prescription{'' if count == 1 else 's'}")
    return 0


@hookimpl
def shifo_cli_commands() -> list[CliCommand]:
    """``shifo erecipe expire``: the expiry sweep now (the server also sweeps while it runs);
    ``shifo erecipe import-medicines FILE``: the medicines register from CSV."""
    return [CliCommand(name="expire", help="expire prescriptions past their validity; print how many",
                       run=_expire), medicines_cli.COMMAND, *offline_cli.COMMANDS]


@hookimpl
def shifo_demo_data() -> DemoData:
    return demo.DEMO
