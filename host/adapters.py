"""The adapter registry: adapters are found by name through the ``shifo.adapters`` entry points.

An entry point is named ``<port>.<adapter>`` (``storage.sqlalchemy``, ``messaging.nats``) and
points at a factory ``create(settings) -> adapter`` (sync or async). A third-party package adds an
adapter by declaring such an entry point; settings choose it by name.
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from core.errors import ConfigurationError
from host.settings import Settings

GROUP = "shifo.adapters"


def available(port: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        port_name, _, name = ep.name.partition(".")
        if port_name == port and name:
            found[name] = ep
    return found


async def create(port: str, name: str, settings: Settings, **kwargs: Any) -> Any:
    """Build the adapter ``name`` for ``port``; an unknown name fails listing the known ones."""
    known = available(port)
    if name not in known:
        listed = ", ".join(sorted(known)) or "none installed"
        raise ConfigurationError(
            f"unknown {port} adapter {name!r}; known {port} adapters: {listed}. "
            f"Set SHIFO_{port.upper()}_ADAPTER to one of them or install the package providing it."
        )
    try:
        factory = known[name].load()
    except Exception as exc:  # a broken adapter package: say which and why, at start-up
        raise ConfigurationError(f"{port} adapter {name!r} ({known[name].value}) failed to load: "
                                 f"{type(exc).__name__}: {exc}") from exc
    result = factory(settings, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
