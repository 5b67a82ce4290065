"""Plugin loading and configuration: a deployment serves only the modules it enables, and a
mis-configured one refuses to start (``create_app`` raises) with a message that says how to fix it."""

from __future__ import annotations

import pytest
from litestar import get

from core.errors import ConfigurationError
from host.pluginapi import Action, EventHandler, PolicyRule, requires
from host.settings import Settings
from host.web.app import create_app
from tests.host.plugins import probe
from tests.support import ALL_MODULES, add_facility, add_user, login, opened, serving

OFFLINE = "sqlite+aiosqlite:///:memory:"  # configuration fails before any connection is made


async def test_deployment_serves_only_enabled_modules(db_url: str) -> None:
    settings = Settings(database_url=db_url, modules=("medcard", "erecipe"), run_relay=False)
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ["medcard", "erecipe", "polyclinic", "hospital"])
        await add_user(rt, "doc", grants=[("F1", "doctor")])
    async with serving(settings) as client:
        auth = await login(client, "doc")
        for module in ("medcard", "erecipe"):
            r = await client.get(f"/api/v1/{module}/", headers=auth)
            assert r.status_code == 200, r.text
        for module in ("polyclinic", "hospital"):
            r = await client.get(f"/api/v1/{module}/", headers=auth)
            assert r.status_code == 404, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        spec = (await client.get("/schema/openapi.json")).json()
    mounted = {path.split("/")[3] for path in spec["paths"] if path.startswith("/api/v1/")}
    assert mounted & set(ALL_MODULES) == {"medcard", "erecipe"}


def test_erecipe_without_medcard_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError) as failed:
        create_app(Settings(database_url=OFFLINE, modules=("erecipe",)))
    message = str(failed.value)
    assert "medcard" in message and "SHIFO_MODULES" in message and "erecipe" in message


def test_unknown_module_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as failed:
        create_app(Settings(database_url=OFFLINE, modules=("medcard", "radiology")))
    message = str(failed.value)
    assert "'radiology'" in message and "SHIFO_MODULES" in message
    assert all(name in message for name in ALL_MODULES)


@pytest.mark.parametrize(("port", "known"), [("storage", "sqlalchemy"), ("messaging", "inprocess"),
                                             ("identity", "local")])
def test_unknown_adapter_lists_the_known_ones(port: str, known: str) -> None:
    settings = Settings(database_url=OFFLINE).with_(**{f"{port}_adapter": "carrier-pigeon"})
    with pytest.raises(ConfigurationError) as failed:
        create_app(settings)
    message = str(failed.value)
    assert "carrier-pigeon" in message and port in message and known in message
    assert f"SHIFO_{port.upper()}_ADAPTER" in message


@get("/naked", sync_to_thread=False)
def naked() -> dict[str, str]:
    return {"open": "to anyone"}


@get("/guarded", sync_to_thread=False, opt=requires("probe.thing", "read"))
def guarded() -> dict[str, str]:
    return {"open": "to readers"}


async def let_everyone_in(request: object) -> None:
    return None


@get("/hooked", sync_to_thread=False, opt=requires("probe.thing", "read"), before_request=let_everyone_in)
def hooked() -> dict[str, str]:
    return {"open": "past the guard"}


READ = Action(object="probe.thing", action="read")

BAD_PLUGINS = {
    "route without permission": (probe(routes=[guarded, naked], actions=[READ]), "/api/v1/probe/naked"),
    "route replacing the guard": (probe(routes=[guarded, hooked], actions=[READ]), "/api/v1/probe/hooked"),
    "grant to a non-clinical role": (
        probe(actions=[READ], rules=[PolicyRule(role="registrar", object="probe.thing", action="read")]),
        "registrar"),
    "grant of an undeclared action": (
        probe(actions=[READ], rules=[PolicyRule(role="doctor", object="probe.thing", action="erase")]),
        "probe.thing/erase"),
    "action outside its namespace": (probe(actions=[Action(object="medcard.patient", action="erase")]),
                                     "medcard.patient/erase"),
    "duplicate event consumer": (
        probe(handlers=[EventHandler(consumer="probe.c", event_types=("x.y",), handle=None),  # type: ignore[arg-type]
                        EventHandler(consumer="probe.c", event_types=("x.z",), handle=None)]),  # type: ignore[arg-type]
        "probe.c"),
    "requires a module not enabled": (probe(requires=("hospital",)), "hospital"),
}


@pytest.mark.parametrize("case", list(BAD_PLUGINS))
def test_bad_plugin_refuses_to_start(case: str) -> None:
    plugin, named = BAD_PLUGINS[case]
    with pytest.raises(ConfigurationError) as failed:
        create_app(Settings(database_url=OFFLINE, modules=("medcard", "probe")),
                   extra_plugins={"probe": plugin})
    assert named in str(failed.value)


def test_a_well_formed_plugin_starts() -> None:
    """The control for the cases above: the same plugin without the fault is accepted."""
    plugin = probe(routes=[guarded], actions=[READ],
                   rules=[PolicyRule(role="doctor", object="probe.thing", action="read")])
    app = create_app(Settings(database_url=OFFLINE, modules=("medcard", "probe")),
                     extra_plugins={"probe": plugin})
    assert "/api/v1/probe/guarded" in {route.path for route in app.routes}


def test_unknown_consumer_grouping_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError) as failed:
        create_app(Settings(database_url=OFFLINE).with_(consumer_groups="per-module"))
    assert "SHIFO_CONSUMER_GROUPS" in str(failed.value) and "shared" in str(failed.value)
