"""The staff directory service (``ports.staff``), answered from the identity port.

The host offers it because only the host holds the identity adapter; an adapter that keeps no
accounts of its own (a national SSO) answers through the same two administration calls.
"""

from __future__ import annotations

from uuid import UUID

from core.errors import NotFound
from core.principals import AccountStatus, PrincipalKind
from ports.identity import Identity
from ports.staff import SERVICE, StaffDirectory
from ports.storage import Transaction

__all__ = ["SERVICE", "IdentityStaffDirectory", "create"]


class IdentityStaffDirectory:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def roles_at(self, account: UUID, facility: str,
                       tx: Transaction | None = None) -> frozenset[str]:
        try:
            found = await self.identity.account(account, tx=tx)
        except NotFound:
            return frozenset()
        if found.kind != PrincipalKind.STAFF or found.status != AccountStatus.ACTIVE:
            return frozenset()
        return frozenset(g.role for g in await self.identity.grants(account, tx=tx)
                         if g.facility == facility and g.revoked_at is None)


def create(identity: Identity) -> StaffDirectory:
    """The service as ``ctx.services["staff_directory"]`` offers it (typed: mypy checks the Protocol)."""
    return IdentityStaffDirectory(identity)
