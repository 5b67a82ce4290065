"""Units of work inside the relay's claim run on the claim's own connection (PostgreSQL).

The claim holds the relay's advisory lock until it commits, and a relay on another process waits
for that lock. Had a unit begun inside the claim (a due retry, a consumer's own transaction after
a handler failed, a failure record) waited for a second connection, a process short of
connections would hold every relay up behind its lock. So while a task holds the claim,
``SqlStorage.transaction`` gives it a savepoint of the claim's transaction instead: a failure
still stays with its consumer and event (``ROLLBACK TO SAVEPOINT``), and what it wrote commits
with the claim's batch. A read-only unit there needs no savepoint.
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
    __slots__ = ("claim", "driver", "name", "readonly", "tx")

    def __init__(self, claim: SqlTransaction, readonly: bool) -> None:
        self.claim, self.readonly = claim, readonly
        self.driver: Any = claim.conn.sync_connection.connection.dbapi_connection._connection  # type: ignore[union-attr]
        self.name = f"shifo_unit_{next(_names)}"

    async def __aenter__(self) -> SqlTransaction:
        if not self.readonly:
            await self.driver.execute(f"SAVEPOINT {self.name}")
        self.tx = SqlTransaction(self.claim.conn, self.claim.runner)
        return self.tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if kind is None:
            if not self.readonly:
                await self.driver.execute(f"RELEASE SAVEPOINT {self.name}")
            self.claim.published += self.tx.published  # the claim's commit tells the listeners
        elif not self.readonly and issubclass(kind, Exception):
            await self.driver.execute(f"ROLLBACK TO SAVEPOINT {self.name}")
