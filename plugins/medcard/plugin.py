"""Hook implementations of the medical card: thin, pointing at the slice's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.pluginapi import Action, ModuleInfo, PolicyRule, hookimpl, load_policy
from plugins.medcard import INFO
from plugins.medcard.api import ModuleController, PatientController

HERE = Path(__file__).parent


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [ModuleController, PatientController]


@hookimpl
def shifo_actions() -> list[Action]:
    return [
        Action(object="medcard.module", action="read", description="see that the module answers"),
        Action(object="medcard.patient", action="register", description="register a patient"),
        Action(object="medcard.patient", action="read", description="find and read a patient"),
        Action(object="medcard.entry", action="record", description="record an entry on a card"),
        Action(object="medcard.entry", action="read", description="read a patient's card"),
    ]


@hookimpl
def shifo_policies() -> list[PolicyRule]:
    return load_policy(HERE / "policy.csv")


@hookimpl
def shifo_migrations() -> str:
    return str(HERE / "migrations")
