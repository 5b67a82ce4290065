"""Small module plugins built in tests, registered through ``extra_plugins``."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

from host.pluginapi import Action, EventHandler, ModuleInfo, PolicyRule, hookimpl


def probe(name: str = "probe", *, routes: Iterable[Any] = (), actions: Iterable[Action] = (),
          rules: Iterable[PolicyRule] = (), handlers: Iterable[EventHandler] = (),
          requires: tuple[str, ...] = ()) -> types.SimpleNamespace:
    """A module object with the given hooks, as pluggy sees a plugin module."""
    info = ModuleInfo(name=name, title=f"Test module {name}", version="0.0.1", requires=requires)
    return types.SimpleNamespace(
        shifo_module_info=hookimpl(lambda: info),
        shifo_route_handlers=hookimpl(lambda: list(routes)),
        shifo_actions=hookimpl(lambda: list(actions)),
        shifo_policies=hookimpl(lambda: list(rules)),
        shifo_event_handlers=hookimpl(lambda: list(handlers)),
    )
