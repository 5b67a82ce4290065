"""Units of work inside the relay's claim run on the claim's own connection (PostgreSQL).

The claim holds the relay's advisory lock until it commits, and a relay on another process waits
for that lock. Had a unit begun inside the claim (a due retry, a consumer's own transaction after
a handler failed, a failure record) waited for a second connection, a process short of
connections would hold every relay up behind its lock. So while a task holds the claim,
``SqlStorage.transaction`` gives it a savepoint of the claim's transaction instead, a read-only
unit too: a failure still stays with its consumer and event (``ROLLBACK TO SAVEPOINT``) and never
aborts the claim, and what it wrote commits with the claim's batch. That commit does not wait for
the disk (the relay's work is replayed if a crash loses it) unless a unit asks for ``durable``.
"""

from __future__ import annotations

import asyncio
import itertools
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from adapters.storage.transaction import SqlTransaction

#: (the task holding the claim, the claim's transaction); a task it starts is not inside it
HOLDER: ContextVar[tuple[asyncio.Task[Any] | None, SqlTransaction] | None] = ContextVar(
    "shifo_claim", default=None)
_names = itertools.count(1)


class Savepoint:
    __slots__ = ("claim", "driver", "durable", "name", "tx")

    def __init__(self, claim: SqlTransaction, durable: bool) -> None:
        self.claim, self.durable = claim, durable
        self.driver: Any = claim.conn.sync_connection.connection.dbapi_connection._connection  # type: ignore[union-attr]
        self.name = f"shifo_unit_{next(_names)}"

    async def __aenter__(self) -> SqlTransaction:
        # durable: the claim's commit then waits for the disk, as this unit's own commit would
        durable = "SET LOCAL synchronous_commit TO on; " if self.durable else ""
        await self.driver.execute(f"{durable}SAVEPOINT {self.name}")
        self.tx = SqlTransaction(self.claim.conn, self.claim.runner)
        return self.tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if kind is None:
            await self.driver.execute(f"RELEASE SAVEPOINT {self.name}")
            self.claim.published += self.tx.published  # the claim's commit tells the listeners
        elif issubclass(kind, Exception) and not self.driver.is_closed():
            # if this fails too (the connection broke), so does the claim: nothing of it commits
            await self.driver.execute(f"ROLLBACK TO SAVEPOINT {self.name}")
