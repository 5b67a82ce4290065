"""The module contract kit finds each breach it promises to find: a faulty module object, loaded
as an uninstalled plugin, is reported with a sentence naming the route, line or revision."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from litestar import get, post
from litestar.params import FromQuery

from host.migrations import VERSIONS
from host.pluginapi import Action, ModuleInfo, PolicyRule, hookimpl, own_record, requires
from host.testing import module_checks as checks
from host.testing import module_migrations
from host.testing.module_kit import OFFLINE, ModuleKitSubject
from host.testing.module_probe import probe_routes
from host.web.app import create_app


@get("/things", opt=requires("faulty.thing", "read"), sync_to_thread=False)
def things() -> list[str]:
    return []


@get("/borrowed", opt=requires("medcard.patient", "read"), sync_to_thread=False)
def borrowed() -> list[str]:
    return []


@get("/undeclared", opt=requires("faulty.secret", "read"), sync_to_thread=False)
def undeclared() -> list[str]:
    return []


@get("/faulty-mine", opt=own_record("faulty.thing"), sync_to_thread=False)
def mine_by_id(patient_id: FromQuery[str]) -> list[str]:
    return [patient_id]


@post("/faulty-note", opt=own_record("faulty.thing"), sync_to_thread=False)
def note(data: dict[str, str]) -> dict[str, str]:
    return data


@get("/faulty-staff-only", opt=requires("faulty.thing", "read"), sync_to_thread=False)
def staff_in_patient_api() -> list[str]:
    return []


def faulty(routes: list[Any], patient: list[Any] = (), migrations: str | None = None) -> Any:  # type: ignore[assignment]
    info = ModuleInfo(name="faulty", title="A faulty module", version="0.0.1", requires=("medcard",))
    return types.SimpleNamespace(
        shifo_module_info=hookimpl(lambda: info),
        shifo_route_handlers=hookimpl(lambda: routes),
        shifo_patient_routes=hookimpl(lambda: list(patient)),
        shifo_actions=hookimpl(lambda: [Action(object="faulty.thing", action="read")]),
        shifo_policies=hookimpl(lambda: [PolicyRule(role="doctor", object="faulty.thing", action="read")]),
        shifo_migrations=hookimpl(lambda: migrations),
    )


def built(plugin: Any, tmp_path: Path) -> tuple[Any, Any, Any]:
    s = ModuleKitSubject(name="faulty", plugin=plugin)
    app = create_app(s.settings(OFFLINE, tmp_path), extra_plugins=s.extra_plugins)
    base = create_app(s.settings(OFFLINE, tmp_path, with_module=False))
    from host.modules import Modules

    return Modules.load(("medcard", "faulty"), s.extra_plugins), app, base


def test_routes_outside_the_namespace_or_undeclared_are_named(tmp_path: Path) -> None:
    modules, app, base = built(faulty([things, borrowed, undeclared]), tmp_path)
    found = checks.route_problems(app, base, modules, "faulty")
    assert any("/api/v1/faulty/borrowed" in p and "outside the module's namespace" in p for p in found), found
    assert any("/api/v1/faulty/undeclared" in p and "did not declare" in p for p in found), found
    assert not any("/api/v1/faulty/things" in p for p in found), found


def test_policy_lines_for_other_roles_or_actions_are_named(tmp_path: Path) -> None:
    from host.modules import Modules

    plugin = faulty([things])
    plugin.shifo_policies = hookimpl(lambda: [PolicyRule(role="registrar", object="faulty.thing", action="read"),
                                              PolicyRule(role="nurse", object="faulty.thing", action="delete")])
    found = checks.policy_problems(Modules.load(("medcard", "faulty"), {"faulty": plugin}), "faulty")
    assert any("'registrar'" in p for p in found), found
    assert any("faulty.thing, delete" in p and "did not declare" in p for p in found), found


def test_patient_routes_that_take_a_patient_or_write_are_named(tmp_path: Path) -> None:
    _, app, base = built(faulty([things], patient=[mine_by_id, note]), tmp_path)
    found = checks.patient_route_problems(app, base, "faulty")
    assert any("GET /api/v1/patient/faulty-mine takes 'patient_id'" in p for p in found), found
    assert any("POST /api/v1/patient/faulty-note: a patient route only reads" in p for p in found), found
    assert any("POST /api/v1/patient/faulty-note reads a request body" in p for p in found), found
    assert len(found) == 3, found


def test_a_migration_branch_not_of_its_own_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "f0001.py").write_text('revision = "f0001"\ndown_revision = None\nbranch_labels = None\n'
                                     'depends_on = None\ndef upgrade(): pass\ndef downgrade(): pass\n')
    (folder / "f0002.py").write_text('revision = "f0002"\ndown_revision = "h0001"\nbranch_labels = None\n'
                                     'depends_on = None\ndef upgrade(): pass\ndef downgrade(): pass\n')
    found = module_migrations.branch_problems({"host": str(VERSIONS), "faulty": str(folder)}, "faulty")
    assert any("branch_labels = ('faulty',)" in p for p in found), found
    assert any("depends_on = 'h0001'" in p for p in found), found
    assert any("f0002 follows ['h0001']" in p for p in found), found
    assert any("one head" in p for p in found), found
    assert module_migrations.branch_problems({"host": str(VERSIONS), "faulty": str(tmp_path / "none")}, "faulty")


async def test_the_probe_finds_a_route_no_role_can_use(tmp_path: Path) -> None:
    found = await probe_routes(ModuleKitSubject(name="faulty", plugin=faulty([things, undeclared])), tmp_path)
    assert found == ["GET /api/v1/faulty/undeclared: no clinical role holds faulty.secret/read, so no one "
                     "can use the route"], found


def test_an_event_consumer_outside_its_namespace_is_named() -> None:
    from host.modules import Modules
    from host.pluginapi import EventHandler

    async def handle(event: Any, tx: Any) -> None:
        return None

    plugin = faulty([things])
    plugin.shifo_event_handlers = hookimpl(lambda: [
        EventHandler(consumer="faulty.cards", event_types=("medcard.entry_recorded",), handle=handle),
        EventHandler(consumer="cards", event_types=("medcard.entry_recorded",), handle=handle)])
    found = checks.consumer_problems(Modules.load(("medcard", "faulty"), {"faulty": plugin}),
                                     Modules.load(("medcard",)), "faulty")
    assert found == ["event consumer 'cards' must be named faulty.<what>"], found


def test_a_module_name_that_is_no_url_segment_is_named(tmp_path: Path) -> None:
    from host.modules import Modules

    info = ModuleInfo(name="Bad-Name", title="", version="1")
    plugin = types.SimpleNamespace(shifo_module_info=hookimpl(lambda: info))
    found = checks.identity_problems(Modules.load(("Bad-Name",), {"Bad-Name": plugin}), "Bad-Name")
    assert len(found) == 2 and "lower-case" in found[0] and "title" in found[1], found


async def test_a_foreign_table_and_a_downgrade_that_leaves_one_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "f0001.py").write_text(
        'import sqlalchemy as sa\nfrom alembic import op\n'
        'revision = "f0001"\ndown_revision = None\nbranch_labels = ("faulty",)\ndepends_on = "h0001"\n'
        'def upgrade():\n    op.create_table("faulty_things", sa.Column("id", sa.Integer, primary_key=True))\n'
        '    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))\n'
        'def downgrade():\n    op.drop_table("notes")\n')
    subject = ModuleKitSubject(name="faulty", plugin=faulty([things], migrations=str(folder)))
    found = await module_migrations.applied_problems(subject, tmp_path)
    assert found == ["migrations create table 'notes': name the module's tables faulty_*",
                     "downgrading the faulty branch left ['faulty_things'] behind"], found
