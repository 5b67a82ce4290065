"""The plugin API: everything a module may import from the host, and nothing else.

A module implements hooks (see :mod:`host.hookspecs`) marked with :data:`hookimpl`, declares the
permission of every route with :func:`requires`, and receives a :class:`Context` in its handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import msgspec
import pluggy
from litestar.di import NamedDependency

from core.events import Event
from core.principals import Principal
from host import audit as _audit
from ports.storage import Storage, Transaction

PROJECT = "shifo"
hookimpl = pluggy.HookimplMarker(PROJECT)

PrincipalKind = Literal["staff", "patient", "operator"]


class ModuleInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a module says about itself (hook ``shifo_module_info``)."""

    name: str  # the mount point /api/v1/<name>/ and the namespace of its actions
    title: str
    version: str
    requires: tuple[str, ...] = ()


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """A permission a module declares: ``object`` is namespaced ``<module>.<thing>``."""

    object: str
    action: str
    description: str = ""


class PolicyRule(msgspec.Struct, frozen=True, kw_only=True):
    """Grant ``action`` on ``object`` to a clinical ``role`` (hook ``shifo_policies``)."""

    role: str
    object: str
    action: str


EventHandlerFn = Callable[[Event, Transaction], Awaitable[None]]


class EventHandler(msgspec.Struct, frozen=True, kw_only=True):
    """Subscribe ``handle`` to catalogue event types (hook ``shifo_event_handlers``).

    ``consumer`` names the handler for idempotency and the failed-events list; keep it stable.
    ``handle`` runs inside a transaction of its own; the host skips events it already handled.
    """

    consumer: str
    event_types: tuple[str, ...]
    handle: EventHandlerFn


class Permission(msgspec.Struct, frozen=True, kw_only=True):
    object: str
    action: str
    principal: PrincipalKind = "staff"
    facility_scoped: bool = True


def requires(
    object: str, action: str, *, principal: PrincipalKind = "staff", facility_scoped: bool = True
) -> dict[str, Any]:
    """Route ``opt`` declaring the permission a route needs: ``@get("/", opt=requires(...))``.

    Staff permissions are checked in the facility chosen for the request (``X-Facility`` header).
    """
    return {"permission": Permission(object=object, action=action, principal=principal,
                                     facility_scoped=facility_scoped)}


def public() -> dict[str, Any]:
    """Route ``opt`` for the few routes that need no authentication (health, login)."""
    return {"permission": "public"}


class Context(msgspec.Struct, kw_only=True):
    """What a route handler receives as ``ctx``: the caller and the host's ports."""

    principal: Principal | None
    facility: str | None
    storage: Storage
    services: dict[str, Any]
    request_id: str
    client: str

    @property
    def user_id(self) -> UUID | None:
        return self.principal.id if self.principal else None

    async def audit(self, tx: Transaction, action: str, *, patient: str | None = None,
                    object: str | None = None, outcome: str = "ok", detail: str | None = None) -> None:
        """Record in ``tx`` (a write transaction, so the entry commits with the change) that the
        caller did ``action`` (``"medcard.entry/read"``) on ``patient`` (PINFL) / ``object`` (an id).
        Who, role, facility, time, request id and client address are filled in from the context."""
        await _audit.record(tx, _audit.entry(
            self.principal, action, facility=self.facility, patient=patient, object=object,
            outcome=outcome, detail=detail, request_id=self.request_id, client=self.client))


def load_policy(path: str | Path) -> list[PolicyRule]:
    """Read a module's ``policy.csv``: ``role,object,action`` per line, ``#`` starts a comment."""
    rules = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            role, obj, act = (part.strip() for part in line.split(","))
            rules.append(PolicyRule(role=role, object=obj, action=act))
    return rules


#: Annotate a handler parameter as ``ctx: Ctx`` to receive the :class:`Context`.
Ctx = NamedDependency[Context]


def subscribe(consumer: str, *event_types: str) -> Callable[[EventHandlerFn], EventHandler]:
    """Decorator form of :class:`EventHandler` for module code."""

    def wrap(fn: EventHandlerFn) -> EventHandler:
        return EventHandler(consumer=consumer, event_types=tuple(event_types), handle=fn)

    return wrap


__all__ = [
    "Action",
    "Context",
    "Ctx",
    "EventHandler",
    "ModuleInfo",
    "Permission",
    "PolicyRule",
    "hookimpl",
    "load_policy",
    "public",
    "requires",
    "subscribe",
]
