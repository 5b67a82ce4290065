"""Who may read which provider: the native API's rules, decided per provider.

The FHIR routes let the guard authenticate (staff, or patients for their own compartment) and
decide here, per provider, what a staff caller may use at the facility chosen with
``X-Facility`` (or their only one): a module's provider needs the module installed there and
a role holding its read permission; a host provider one of its roles. So a hospital without
the polyclinic module still reads its own Encounters. A type of which the caller may use no
provider is a 403, audited as the guard audits its refusals. Patients use every provider, and
the engine confines them to their compartment. A module may serve one type under two permissions
(erecipe: every prescription to prescribers, what a pharmacist may dispense to pharmacists); a
caller who may use both (a patient) gets each resource once, the first provider's
(:func:`host.fhir.bundle.merged`).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException

from core.principals import Principal
from host import audit
from host.fhir.registry import Provider
from host.runtime import Runtime
from host.web.guard import chosen_facility

log = logging.getLogger("shifo.fhir")


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    principal: Principal
    facility: str | None  # staff: the facility they act for; patients: None
    request_id: str | None = None
    client: str = ""

    @property
    def pinfl(self) -> str | None:
        """A patient caller's own PINFL (the guard admits no patient without one); staff: None."""
        return self.principal.pinfl if self.principal.kind == "patient" else None


async def caller(runtime: Runtime, connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The authenticated caller; for staff, with the facility they act for (else 403, audited)."""
    state = connection.scope.get("state", {})
    principal: Principal = state["principal"]
    who = Caller(principal=principal, facility=None, request_id=state.get("request_id"),
                 client=connection.client.host if connection.client else "")
    if principal.kind == "patient":
        return who
    try:
        return msgspec.structs.replace(who, facility=chosen_facility(connection, principal))
    except PermissionDeniedException as refusal:
        await refused(runtime, who, "fhir/read", connection.scope["path"], refusal)
        raise


async def may_use(runtime: Runtime, who: Caller, provider: Provider) -> bool:
    if who.pinfl is not None:
        return True
    if who.facility is None:
        return False
    roles = who.principal.roles_at(who.facility)
    if provider.module is None:
        return bool(roles & provider.roles)
    r = provider.resource
    return (bool(roles) and runtime.authorizer.allows(roles, who.facility, r.object, r.action)
            and await runtime.module_enabled(who.facility, provider.module))


async def usable(runtime: Runtime, who: Caller, providers: list[Provider], path: str) -> list[Provider]:
    """The providers ``who`` may read; 403 (audited) if none."""
    found = [p for p in providers if await may_use(runtime, who, p)]
    if not found:
        names = ", ".join(dict.fromkeys(p.permission for p in providers))
        refusal = PermissionDeniedException(
            f"your roles at {who.facility} do not allow {names}, or the module is not installed there")
        await refused(runtime, who, providers[0].permission if providers else "fhir", path, refusal)
        raise refusal
    return found


async def refused(runtime: Runtime, who: Caller, action: str, path: str,
                  refusal: PermissionDeniedException) -> None:
    """Record a refusal in its own transaction; a failing audit never turns it into a pass."""
    item = audit.entry(who.principal, action, facility=who.facility, object=f"GET {path}",
                       outcome=f"denied:{refusal.status_code}", detail=refusal.detail,
                       request_id=who.request_id, client=who.client)
    try:
        async with runtime.storage.transaction() as tx:
            await audit.record(tx, item)
    except Exception:
        log.exception("could not audit a refusal of %s", path)
