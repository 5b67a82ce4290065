"""The module contract kit: the cases every Shifo module must pass, from its package's own tests.

It needs pytest and pytest-asyncio (``asyncio_mode = "auto"``)::

    import pytest
    from host.testing.module_kit import ModuleContract, ModuleKitSubject

    class TestImmunizationContract(ModuleContract):
        @pytest.fixture
        def module_kit_subject(self) -> ModuleKitSubject:
            return ModuleKitSubject(name="immunization")   # the installed entry point

The cases: the module says who it is; every route declares a permission the module declared, in
its own namespace, and stays under ``/api/v1/<name>/``; its policy lines grant only to doctor,
resident, nurse and pharmacist; its event consumers are named ``<name>.*``; its patient routes
are ``own_record`` reads that take no patient from the request; its migrations are one branch of
its own that creates only ``<name>_*`` tables and downgrades cleanly; and over HTTP on SQLite the
guard refuses the anonymous, the wrong kind of account and a clinician at a facility without the
module, while some clinical role reaches every route without a 5xx. The module's required
modules are enabled beside it. See docs/plugins.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from core.errors import ConfigurationError
from host.migrations import VERSIONS as HOST_VERSIONS
from host.modules import Modules, discover
from host.settings import Settings
from host.testing import module_checks as checks
from host.testing import module_migrations as migrations
from host.testing.module_probe import probe_routes
from host.web.app import create_app

FAST_HASHING = {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}


@dataclass
class ModuleKitSubject:
    """The module under test: ``name`` as in ``SHIFO_MODULES``. ``plugin``: a plugin object that is
    not installed (loaded like ``extra_plugins``); None loads the installed entry point. ``extra``:
    ``SHIFO_EXTRA`` for the deployment (the module's settings section, say)."""

    name: str
    plugin: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _plugin(self, name: str) -> Any:
        if name == self.name and self.plugin is not None:
            return self.plugin
        installed = discover()
        if name not in installed:
            raise ConfigurationError(f"module {name!r} is not installed under the shifo.plugins entry points")
        return installed[name].load()

    def required(self) -> tuple[str, ...]:
        """The modules this one needs, transitively, in an order that loads."""
        order: list[str] = []

        def visit(name: str) -> None:
            for need in self._plugin(name).shifo_module_info().requires:
                if need not in order:
                    visit(need)
                    order.append(need)

        visit(self.name)
        return tuple(order)

    def settings(self, database_url: str, tmp: Path, *, with_module: bool = True) -> Settings:
        extra = {**self.extra, "identity": {"hashing": FAST_HASHING, **self.extra.get("identity", {})}}
        return Settings(database_url=database_url, run_relay=False, extra=extra,
                        modules=(*self.required(), *([self.name] if with_module else [])),
                        signature_adapter="dev", signature_dev_keys_dir=str(tmp / "dev-keys"))

    @property
    def extra_plugins(self) -> dict[str, Any] | None:
        return {self.name: self.plugin} if self.plugin is not None else None


@dataclass
class Built:
    modules: Modules
    base_modules: Modules
    app: Litestar  # with the module
    base: Litestar  # with only what it requires


OFFLINE = "sqlite+aiosqlite:///:memory:"  # building an app connects to nothing
_BUILT: dict[tuple[str, int, str], Built] = {}


def _problems(found: list[str]) -> None:
    assert not found, "the module breaks the Shifo module contract:\n- " + "\n- ".join(found)


class ModuleContract:
    """Subclass and provide the ``module_kit_subject`` fixture; every test here must pass."""

    @pytest.fixture
    def module_kit_built(self, module_kit_subject: ModuleKitSubject) -> Built:
        """The apps with and without the module, built once per subject (the static cases only read
        them; building connects to nothing)."""
        s = module_kit_subject
        key = (s.name, id(s.plugin), repr(s.extra))
        if key not in _BUILT:
            settings = s.settings(OFFLINE, Path("unused"))
            base = s.settings(OFFLINE, Path("unused"), with_module=False)
            _BUILT[key] = Built(modules=Modules.load(settings.modules, s.extra_plugins),
                                base_modules=Modules.load(base.modules),
                                app=create_app(settings, extra_plugins=s.extra_plugins),
                                base=create_app(base))
        return _BUILT[key]

    def test_module_says_who_it_is(self, module_kit_subject: ModuleKitSubject,
                                   module_kit_built: Built) -> None:
        s = module_kit_subject
        found = checks.identity_problems(module_kit_built.modules, s.name)
        if s.plugin is None and s.name not in discover():
            found.append(f"{s.name!r} is not registered in the shifo.plugins entry-point group")
        _problems(found)

    def test_policies_grant_only_clinical_roles(self, module_kit_subject: ModuleKitSubject,
                                                module_kit_built: Built) -> None:
        _problems(checks.policy_problems(module_kit_built.modules, module_kit_subject.name))

    def test_event_consumers_are_named_in_its_namespace(self, module_kit_subject: ModuleKitSubject,
                                                        module_kit_built: Built) -> None:
        b = module_kit_built
        _problems(checks.consumer_problems(b.modules, b.base_modules, module_kit_subject.name))

    def test_every_route_declares_its_permission_under_its_mount(
            self, module_kit_subject: ModuleKitSubject, module_kit_built: Built) -> None:
        b = module_kit_built
        _problems(checks.route_problems(b.app, b.base, b.modules, module_kit_subject.name))

    def test_patient_routes_read_only_the_callers_record(self, module_kit_subject: ModuleKitSubject,
                                                         module_kit_built: Built) -> None:
        b = module_kit_built
        _problems(checks.patient_route_problems(b.app, b.base, module_kit_subject.name))

    def test_migrations_are_a_branch_of_its_own(self, module_kit_subject: ModuleKitSubject,
                                                module_kit_built: Built) -> None:
        locations = {"host": str(HOST_VERSIONS), **module_kit_built.modules.migrations()}
        _problems(migrations.branch_problems(locations, module_kit_subject.name))

    async def test_migrations_create_only_its_tables_and_undo_them(
            self, module_kit_subject: ModuleKitSubject, tmp_path: Path) -> None:
        _problems(await migrations.applied_problems(module_kit_subject, tmp_path))

    async def test_the_guard_holds_on_every_route(self, module_kit_subject: ModuleKitSubject,
                                                  tmp_path: Path) -> None:
        _problems(await probe_routes(module_kit_subject, tmp_path))

