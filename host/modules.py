"""Plugin loading: find modules through the ``shifo.plugins`` entry points, enable the ones the
settings name, check what they require, validate their settings, and call their hooks.

Hooks are called through pluggy's registry, one plugin at a time (each hook's implementations,
by plugin name): so only functions marked ``hookimpl`` are called, ``specname=`` works, and every
result is attributed to the module that gave it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import msgspec
import pluggy

from core.errors import ConfigurationError
from host import hookspecs
from host.pluginapi import (
    PROJECT,
    Action,
    CliCommand,
    DemoData,
    EventHandler,
    FeedEvent,
    FhirResource,
    ModuleInfo,
    PolicyRule,
)
from host.settings import PLUGIN_GROUP as GROUP


class Module(msgspec.Struct, frozen=True):
    info: ModuleInfo
    plugin: Any
    settings: Any = None  # the validated section of SHIFO_EXTRA (hook shifo_settings)


def discover() -> dict[str, EntryPoint]:
    """Every installed module, enabled or not, by entry-point name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


class Modules:
    """The enabled modules, in dependency order, and typed calls to their hooks."""

    def __init__(self, enabled: list[Module], pm: pluggy.PluginManager) -> None:
        self.enabled = enabled
        self.pm = pm
        self._settings = {m.info.name: m.settings for m in enabled}

    @classmethod
    def load(cls, names: tuple[str, ...] | list[str], extra: dict[str, Any] | None = None, *,
             sections: Mapping[str, Any] | None = None) -> Modules:
        """Load ``names``; ``extra`` maps names to plugin objects not installed as packages (tests);
        ``sections`` is ``SHIFO_EXTRA``, whose section per module its settings schema validates."""
        installed = discover()
        known = sorted({*installed, *(extra or {})})
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        plugins: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            if extra and name in extra:
                plugins[name] = extra[name]
            elif name in installed:
                plugins[name] = _load(name, installed[name])
            else:
                raise ConfigurationError(
                    f"unknown module {name!r}; known modules: {', '.join(known) or 'none installed'}. "
                    "Fix SHIFO_MODULES or install the package that provides it."
                )
            try:
                pm.register(plugins[name], name=name)
                pm.check_pending()
            except pluggy.PluginValidationError as exc:
                raise ConfigurationError(f"module {name!r} implements a hook wrongly: {exc}") from exc
        modules: dict[str, Module] = {}
        for name, plugin in plugins.items():
            info = _one(pm, name, "shifo_module_info")
            if not isinstance(info, ModuleInfo):
                raise ConfigurationError(f"module {name!r} does not say who it is: its "
                                         "shifo_module_info hook must return a ModuleInfo")
            if info.name != name:
                raise ConfigurationError(f"module registered as {name!r} calls itself {info.name!r}")
            modules[name] = Module(info, plugin, _settings(pm, name, (sections or {}).get(name)))
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

    def settings(self, name: str) -> Any:
        """The validated settings of module ``name`` (None: no schema, or not enabled)."""
        return self._settings.get(name)

    def _each(self, hook: str) -> list[tuple[ModuleInfo, Any]]:
        """(module, result) for every enabled module that implements ``hook``, in dependency order."""
        out = []
        for module in self.enabled:
            for result in _call(self.pm, module.info.name, hook):
                out.append((module.info, result))
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

    def cli_commands(self) -> list[tuple[ModuleInfo, list[CliCommand]]]:
        return [(i, r) for i, r in self._each("shifo_cli_commands") if r]

    def demo_data(self) -> list[tuple[ModuleInfo, DemoData]]:
        return [(i, r) for i, r in self._each("shifo_demo_data") if r is not None]

    def patient_feed(self) -> dict[str, FeedEvent]:
        """The event types the patient's stream shows, by type; each in its module's namespace."""
        shown: dict[str, FeedEvent] = {}
        for info, provided in self._each("shifo_patient_feed"):
            for item in provided or []:
                if not item.type.startswith(f"{info.name}."):
                    raise ConfigurationError(f"module {info.name!r} shows {item.type!r} on the patient "
                                             f"feed: list only its own events ({info.name}.*)")
                if item.type in shown:
                    raise ConfigurationError(f"patient feed event {item.type!r} listed twice")
                shown[item.type] = item
        return shown

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
                out[name] = _with_settings(factory, self.settings(info.name))
        return out


def _with_settings(factory: Any, settings: Any) -> Any:
    """A factory that takes a ``settings`` keyword gets its module's validated section."""
    try:
        takes = "settings" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to pass
        return factory
    return functools.partial(factory, settings=settings) if takes else factory


def info_of(name: str, plugin: Any) -> ModuleInfo | None:
    """What an installed module says about itself, without enabling it (``shifo plugins``)."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name=name)
    info = _one(pm, name, "shifo_module_info")
    return info if isinstance(info, ModuleInfo) else None


def _call(pm: pluggy.PluginManager, name: str, hook: str) -> list[Any]:
    """The results of ``hook`` from plugin ``name`` alone, None dropped as pluggy's own call does.
    Only implementations pluggy registered (marked ``hookimpl``, ``specname=`` honoured) are here."""
    impls = getattr(pm.hook, hook).get_hookimpls()
    return [result for impl in impls if impl.plugin_name == name and not (impl.hookwrapper or impl.wrapper)
            for result in (impl.function(),) if result is not None]


def _one(pm: pluggy.PluginManager, name: str, hook: str) -> Any:
    results = _call(pm, name, hook)
    return results[0] if results else None


def _settings(pm: pluggy.PluginManager, name: str, section: Any) -> Any:
    """Validate SHIFO_EXTRA's section of module ``name`` with the schema it gives (if any)."""
    schema = _one(pm, name, "shifo_settings")
    if schema is None:
        return None
    try:
        return msgspec.convert({} if section is None else section, schema)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"bad SHIFO_EXTRA setting of module {name!r}: {exc}") from None


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
