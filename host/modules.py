"""Plugin loading: find modules through the ``shifo.plugins`` entry points, enable the ones the
settings name, check what they require, and offer a typed facade over their hooks."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

import msgspec
import pluggy

from core.errors import ConfigurationError
from host import hookspecs
from host.pluginapi import PROJECT, Action, EventHandler, FhirResource, ModuleInfo, PolicyRule

GROUP = "shifo.plugins"


class Module(msgspec.Struct, frozen=True):
    info: ModuleInfo
    plugin: Any


def discover() -> dict[str, Any]:
    """Every installed module, enabled or not, by entry-point name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


class Modules:
    """The enabled modules, in dependency order, and typed calls to their hooks."""

    def __init__(self, enabled: list[Module], pm: pluggy.PluginManager) -> None:
        self.enabled = enabled
        self.pm = pm

    @classmethod
    def load(cls, names: tuple[str, ...] | list[str], extra: dict[str, Any] | None = None) -> Modules:
        """Load ``names``; ``extra`` maps names to plugin objects not installed as packages (tests)."""
        installed = discover()
        known = sorted({*installed, *(extra or {})})
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        modules: dict[str, Module] = {}
        for name in dict.fromkeys(names):
            if extra and name in extra:
                plugin = extra[name]
            elif name in installed:
                plugin = _load(name, installed[name])
            else:
                raise ConfigurationError(
                    f"unknown module {name!r}; known modules: {', '.join(known) or 'none installed'}. "
                    "Fix SHIFO_MODULES or install the package that provides it."
                )
            pm.register(plugin, name=name)
            info = getattr(plugin, "shifo_module_info", lambda: None)()
            if not isinstance(info, ModuleInfo):
                raise ConfigurationError(f"module {name!r} does not say who it is: its "
                                         "shifo_module_info hook must return a ModuleInfo")
            if info.name != name:
                raise ConfigurationError(f"module registered as {name!r} calls itself {info.name!r}")
            modules[name] = Module(info, plugin)
        pm.check_pending()
        for module in modules.values():
            missing = [r for r in module.info.requires if r not in modules]
            if missing:
                need = ", ".join(missing)
                raise ConfigurationError(
                    f"module {module.info.name!r} requires {need}, which is not enabled. "
                    f"Add {need} to SHIFO_MODULES (e.g. SHIFO_MODULES="
                    f"{','.join([*missing, *modules])}) or disable {module.info.name!r}."
                )
        return cls(_dependency_order(modules), pm)

    @property
    def names(self) -> list[str]:
        return [m.info.name for m in self.enabled]

    def _each(self, hook: str) -> list[tuple[ModuleInfo, Any]]:
        out = []
        for module in self.enabled:
            fn = getattr(module.plugin, hook, None)
            if fn is not None:
                out.append((module.info, fn()))
        return out

    def route_handlers(self) -> list[tuple[ModuleInfo, list[Any]]]:
        return [(i, r or []) for i, r in self._each("shifo_route_handlers")]

    def patient_routes(self) -> list[tuple[ModuleInfo, list[Any]]]:
        return [(i, r or []) for i, r in self._each("shifo_patient_routes")]

    def fhir_resources(self) -> list[tuple[ModuleInfo, list[FhirResource]]]:
        return [(i, r or []) for i, r in self._each("shifo_fhir_resources")]

    def actions(self) -> list[tuple[ModuleInfo, list[Action]]]:
        return [(i, r or []) for i, r in self._each("shifo_actions")]

    def policies(self) -> list[tuple[ModuleInfo, list[PolicyRule]]]:
        return [(i, r or []) for i, r in self._each("shifo_policies")]

    def migrations(self) -> dict[str, str]:
        return {i.name: r for i, r in self._each("shifo_migrations") if r}

    def event_handlers(self) -> list[EventHandler]:
        handlers: dict[str, EventHandler] = {}
        for info, provided in self._each("shifo_event_handlers"):
            for handler in provided or []:
                if handler.consumer in handlers:  # they would share one idempotency record
                    raise ConfigurationError(
                        f"event consumer {handler.consumer!r} is registered twice (again by {info.name})")
                handlers[handler.consumer] = handler
        return list(handlers.values())

    def services(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for info, provided in self._each("shifo_services"):
            for name, factory in (provided or {}).items():
                if name in out:
                    raise ConfigurationError(f"service {name!r} offered twice (again by {info.name})")
                out[name] = factory
        return out


def _load(name: str, ep: EntryPoint) -> Any:
    try:
        return ep.load()
    except Exception as exc:  # a broken package is a deployment problem: say which and why
        raise ConfigurationError(f"module {name!r} ({ep.value}) failed to load: "
                                 f"{type(exc).__name__}: {exc}") from exc


def _dependency_order(modules: dict[str, Module]) -> list[Module]:
    ordered: list[Module] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in path:
            raise ConfigurationError(f"modules require each other in a cycle: {' -> '.join((*path, name))}")
        for dep in modules[name].info.requires:
            visit(dep, (*path, name))
        seen.add(name)
        ordered.append(modules[name])

    for name in modules:
        visit(name, ())
    return ordered
