"""The staff directory: which roles a staff account holds at a facility, for a module that must
check a person a request names (the doctor of a schedule), not only the caller.

Offered by the host as the service ``"staff_directory"`` (``ctx.services``), answered from the
configured identity adapter, so modules never see accounts, grants or credentials themselves.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from ports.storage import Transaction

SERVICE = "staff_directory"


class StaffDirectory(Protocol):
    async def roles_at(self, account: UUID, facility: str,
                       tx: Transaction | None = None) -> frozenset[str]:
        """The roles ``account`` holds at ``facility`` now (its unrevoked grants there); empty for an
        unknown account, one that is not staff, or one that is not active. Pass ``tx`` to read
        inside a transaction you hold (on SQLite a second connection would wait for yours)."""
