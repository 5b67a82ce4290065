"""Start-up refusals: a deployment whose policy or routes break the rules never serves."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import get

from core.errors import ConfigurationError
from host.pluginapi import Action, ModuleInfo, PolicyRule, hookimpl, requires
from host.settings import Settings
from host.web.app import create_app

SETTINGS = Settings(database_url="sqlite+aiosqlite:///:memory:", run_relay=False)


@get("/ok", opt=requires("rogue.thing", "read"), sync_to_thread=False)
def declared() -> str:
    return "ok"


@get("/bare", sync_to_thread=False)
def bare() -> str:
    return "no permission declared"


class Rogue:
    """A module whose hooks are set per test."""

    def __init__(self, *, actions: list[Action], rules: list[PolicyRule], handlers: list[Any] | None = None):
        self._actions, self._rules, self._handlers = actions, rules, handlers or []

    @hookimpl
    def shifo_module_info(self) -> ModuleInfo:
        return ModuleInfo(name="rogue", title="Rogue", version="0.0.1")

    @hookimpl
    def shifo_actions(self) -> list[Action]:
        return self._actions

    @hookimpl
    def shifo_policies(self) -> list[PolicyRule]:
        return self._rules

    @hookimpl
    def shifo_route_handlers(self) -> list[Any]:
        return self._handlers


THING = Action(object="rogue.thing", action="read")


def build(rogue: Rogue) -> Any:
    return create_app(SETTINGS.with_(modules=("medcard", "rogue")), extra_plugins={"rogue": rogue})


def test_a_sound_module_starts() -> None:
    app = build(Rogue(actions=[THING], rules=[PolicyRule(role="doctor", object="rogue.thing", action="read")],
                      handlers=[declared]))
    assert app.state.runtime.authorizer.roles_for("rogue.thing", "read") == {"doctor"}


@pytest.mark.parametrize("role", ["registrar", "operator", "patient", "accountant", "admin"])
def test_granting_to_a_role_outside_the_whitelist_fails(role: str) -> None:
    with pytest.raises(ConfigurationError, match=f"grants rogue.thing/read to '{role}'"):
        build(Rogue(actions=[THING], rules=[PolicyRule(role=role, object="rogue.thing", action="read")]))


def test_granting_an_undeclared_action_fails() -> None:
    with pytest.raises(ConfigurationError, match=r"rogue\.thing/delete, which no module declares"):
        build(Rogue(actions=[THING], rules=[PolicyRule(role="doctor", object="rogue.thing",
                                                       action="delete")]))


def test_granting_another_modules_action_it_did_not_declare_fails() -> None:
    with pytest.raises(ConfigurationError, match=r"medcard\.patient/erase, which no module declares"):
        build(Rogue(actions=[THING], rules=[PolicyRule(role="nurse", object="medcard.patient",
                                                       action="erase")]))


def test_declaring_in_another_modules_namespace_fails() -> None:
    with pytest.raises(ConfigurationError, match="outside its namespace"):
        build(Rogue(actions=[Action(object="medcard.patient", action="export")], rules=[]))


def test_declaring_an_action_twice_fails() -> None:
    with pytest.raises(ConfigurationError, match="declared twice"):
        build(Rogue(actions=[THING, THING], rules=[]))


def test_a_route_without_a_permission_fails() -> None:
    with pytest.raises(ConfigurationError, match=r"without a declared permission: GET /api/v1/rogue/bare"):
        build(Rogue(actions=[THING], rules=[], handlers=[declared, bare]))
