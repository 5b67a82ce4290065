"""Hook implementations of the hospital module: thin, pointing at the slice's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.pluginapi import Action, ModuleInfo, PolicyRule, hookimpl, load_policy
from plugins.hospital import INFO
from plugins.hospital.api import ModuleController

HERE = Path(__file__).parent


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return INFO


@hookimpl
def shifo_route_handlers() -> list[Any]:
    return [ModuleController]


@hookimpl
def shifo_actions() -> list[Action]:
    return [Action(object="hospital.module", action="read", description="see that the module answers")]


@hookimpl
def shifo_policies() -> list[PolicyRule]:
    return load_policy(HERE / "policy.csv")
