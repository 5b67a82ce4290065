"""The running deployment: settings, enabled modules and the adapters behind the ports.

Built in two steps so that configuration errors surface when the app is created, before any
I/O: :func:`Runtime.plan` checks names; :meth:`Runtime.start` opens connections. ``open`` alone
(the CLI) or ``open``, ``migrate`` then ``start`` on one runtime and one event loop both work.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import bindparam, select

from core.errors import ConfigurationError
from host import adapters, staff
from host.audit_anchor import Checkpointer
from host.audit_key import key_of
from host.authz import Authorizer
from host.migrations import VERSIONS as HOST_VERSIONS
from host.modules import Modules
from host.operator.scheduler import ReviewEnforcer
from host.pipeline import Pipeline, check_grouping
from host.relay import Relay
from host.settings import Settings
from host.tables import facility_modules
from ports.identity import Identity
from ports.messaging import SERVICE as MESSAGING
from ports.messaging import Messaging
from ports.signature import Signature
from ports.storage import Storage, prepared

PORTS = ("storage", "messaging", "identity", "signature")


class Runtime:
    storage: Storage
    messaging: Messaging
    identity: Identity
    signature: Signature
    pipeline: Pipeline
    relay: Relay

    def __init__(self, settings: Settings, modules: Modules) -> None:
        self.settings = settings
        self.modules = modules
        self.authorizer = Authorizer(modules.actions(), modules.policies())
        self.handlers = modules.event_handlers()
        self.feed = modules.patient_feed()  # the event types the patient's stream shows
        self.services: dict[str, Any] = {}
        self._installed: dict[tuple[str, str], tuple[bool, float]] = {}
        self.opened = False
        self.started = False
        self.enforcer: ReviewEnforcer | None = None
        self.checkpointer: Checkpointer | None = None

    @classmethod
    def plan(cls, settings: Settings, extra_plugins: dict[str, Any] | None = None) -> Runtime:
        for port in PORTS:
            name = getattr(settings, f"{port}_adapter")
            known = adapters.available(port)
            if name not in known:
                raise ConfigurationError(
                    f"unknown {port} adapter {name!r}; known {port} adapters: "
                    f"{', '.join(sorted(known)) or 'none installed'}. Set SHIFO_{port.upper()}_ADAPTER.")
        check_grouping(settings)
        return cls(settings, Modules.load(settings.modules, extra_plugins, sections=settings.extra))

    def migration_locations(self) -> dict[str, str]:
        locations = {"host": HOST_VERSIONS}
        for port in ("identity",):
            extra = getattr(getattr(self, port, None), "migrations", None)
            if extra:
                locations[port] = extra
        locations.update(self.modules.migrations())
        return locations

    async def open(self) -> None:
        """Connect the adapters (no relay): enough for the CLI's migrate and demo."""
        if self.opened:
            return
        s = self.settings
        self.storage = await adapters.create("storage", s.storage_adapter, s)
        try:  # a broker unreachable at start: the error says so, and the database is let go
            self.messaging = await adapters.create("messaging", s.messaging_adapter, s)
        except BaseException:
            await self.storage.close()
            raise
        self.identity = await adapters.create("identity", s.identity_adapter, s, storage=self.storage)
        self.signature = await adapters.create("signature", s.signature_adapter, s)
        self.services = {name: factory(self.storage) for name, factory in self.modules.services().items()}
        self.services["signature"] = self.signature  # modules reach the port as ctx.services["signature"]
        self.services[MESSAGING] = self.messaging  # live events, e.g. the card's alert stream
        self.services[staff.SERVICE] = staff.create(self.identity)  # ports.staff.StaffDirectory
        self.opened = True

    async def migrate(self) -> None:
        await self.storage.migrate(self.migration_locations())

    async def start(self) -> None:
        await self.open()
        s = self.settings
        self.pipeline = Pipeline(self.storage, self.messaging, self.handlers, s)
        self.relay = self.pipeline.relay  # also drained by hand where nothing runs (the demo's seeding)
        # the module consumers exist on a durable adapter only (else the relay delivers)
        await self.pipeline.start(relay=s.run_relay, consumers=s.run_consumers)
        if s.run_relay:  # background work of this process: the relay and the access review
            self.enforcer = ReviewEnforcer(self)
            await self.enforcer.start()
            self.checkpointer = Checkpointer(self.storage, key_of(s), s.audit_checkpoint_seconds)
            await self.checkpointer.start()
        for service in self.services.values():  # e.g. the erecipe expiry sweep; see the erecipe docs
            if hasattr(service, "start_background"):
                await service.start_background()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            for service in self.services.values():
                if hasattr(service, "stop_background"):
                    await service.stop_background()
            await self.pipeline.stop()  # before messaging and storage close below
            if self.enforcer is not None:
                await self.enforcer.stop()
            if self.checkpointer is not None:
                await self.checkpointer.stop()
            self.started = False
        if self.opened:
            close = getattr(self.signature, "close", None)
            if close is not None:
                await close()
            await self.messaging.close()
            await self.storage.close()
            self.opened = False

    async def module_enabled(self, facility: str, module: str) -> bool:
        """Is ``module`` installed at ``facility``? Remembered ``module_check_seconds``: an answer
        the guard needs on every request, that changes a few times a year."""
        key, now = (facility, module), time.monotonic()
        known = self._installed.get(key)
        if known is not None and now - known[1] < self.settings.module_check_seconds:
            return known[0]
        async with self.storage.transaction(readonly=True) as tx:
            found = (await tx.execute(_ENABLED, {"facility": facility, "module": module})).first() is not None
        if len(self._installed) > 10_000:  # facilities x modules is far smaller; never grow without bound
            self._installed.clear()
        self._installed[key] = (found, now)
        return found

    def installations_changed(self) -> None:
        """Forget what :meth:`module_enabled` remembered (called after an installation changes)."""
        self._installed.clear()


#: Built once: the guard asks it on every module request.
_ENABLED = prepared(select(facility_modules.c.module).where(
    facility_modules.c.facility == bindparam("facility"), facility_modules.c.module == bindparam("module"),
    facility_modules.c.disabled_at.is_(None)))
