"""How the medical card's use cases report to the audit trail: every read and write, one line each.

Routes pass ``ctx.audit`` (the host's hash-chained trail, written in the same transaction as the
change, so that transaction must be a write one even for reads); code outside a request (tests
of the use cases, the directory service) passes :func:`nowhere`. Actions are
``medcard.<object>/<verb>``; ``patient`` is the PINFL.
"""

from __future__ import annotations

from typing import Protocol

from ports.storage import Transaction


class Audit(Protocol):
    async def __call__(self, tx: Transaction, action: str, *, patient: str | None = None,
                      object: str | None = None, outcome: str = "ok", detail: str | None = None) -> None: ...


async def nowhere(tx: Transaction, action: str, *, patient: str | None = None, object: str | None = None,
                  outcome: str = "ok", detail: str | None = None) -> None:
    """An :class:`Audit` that records nothing, for calls made outside any request."""
