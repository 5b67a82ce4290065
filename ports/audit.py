"""The audit trail as modules reach it: one call that records an entry in the caller's transaction.

The host implements it (``host.audit``) and hands it to handlers inside the ``Context``, so the
plugin API depends on this Protocol, not on the host's audit tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from core.principals import Principal
from ports.storage import Transaction


class AuditTrail(Protocol):
    async def record(self, tx: Transaction, principal: Principal | None, action: str, *,
                     facility: str | None = None, patient: str | None = None, object: str | None = None,
                     outcome: str = "ok", detail: str | None = None, request_id: str | None = None,
                     client: str | None = None) -> None:
        """Append an entry (``action`` is ``"<module>.<object>/<verb>"``, ``patient`` a PINFL) in
        ``tx``, so it commits together with the change it records."""
        ...

    async def record_all(self, tx: Transaction, principal: Principal | None,
                         notes: Sequence[Mapping[str, str | None]], *, facility: str | None = None,
                         request_id: str | None = None, client: str | None = None) -> None:
        """:meth:`record` each of ``notes`` (``action`` and any of ``patient``, ``object``,
        ``outcome``, ``detail``) in order, as one batch: one chain lock, one head read, one insert."""
        ...
