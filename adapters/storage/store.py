"""The storage port over SQLAlchemy Core: one connection and transaction per unit of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import engine as engine_module
from adapters.storage import migrate
from adapters.storage.claimed import HOLDER, Savepoint
from adapters.storage.held import HeldConnections
from adapters.storage.outbox import SqlOutbox
from adapters.storage.plans import Plan
from adapters.storage.transaction import SqlTransaction

log = logging.getLogger("shifo.storage")


class SqlStorage:
    def __init__(self, engine: AsyncEngine, held: int = 20, timeout: float = 3.0,
                 lock_wait: float = 10.0) -> None:
        self.engine = engine
        self._listeners: list[Callable[[], None]] = []
        self._plans: dict[tuple[int, tuple[str, ...]], Plan | None] = {}
        # PostgreSQL: at most ``held`` connections, held by the adapter; a unit waits for one, or
        # opens one, at most ``timeout`` seconds before it answers Unavailable; a lock taken with
        # BEGIN (the relay's claim) is waited for at most ``lock_wait`` seconds
        self._held = (HeldConnections(engine, self._plans, held, timeout, lock_wait)
                      if self.dialect == "postgresql" else None)
        self.outbox = SqlOutbox(self.dialect, self.transaction)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def transaction(self, *, readonly: bool = False, durable: bool | None = None,
                    lock: int | None = None) -> AbstractAsyncContextManager[SqlTransaction]:
        """``durable=False`` is for the outbox relay only: work that is delivered again if a
        database crash loses its commit (PostgreSQL: the commit does not wait for the disk).
        ``lock`` (PostgreSQL): a transaction-scoped advisory lock on that key, taken as the
        transaction begins, in the same round trip; SQLite admits one writer at a time anyway.

        Inside the relay's claim (PostgreSQL) a unit is a savepoint of the claim's transaction
        (:mod:`adapters.storage.claimed`): it commits with the claim, whose commit does not wait
        for the disk unless a unit says ``durable=True``; it cannot take a ``lock``."""
        if self._held is not None:
            claim = HOLDER.get()
            if claim is not None and claim[0] is asyncio.current_task():
                if lock is not None:  # it would be held until the claim ends, by surprise
                    raise ValueError("a unit inside the relay's claim cannot take a lock of its own")
                return Savepoint(claim[1], durable is True)  # never a second connection under its lock
            # READ COMMITTED gives each statement its own snapshot anyway, so a read-only unit
            # needs no BEGIN/COMMIT round trips: one statement, one round trip
            return self._held.unit(readonly=readonly, committed=self._published,
                                   durable=durable is not False, lock=lock)
        return self._sqlite_unit(readonly)

    @asynccontextmanager
    async def _sqlite_unit(self, readonly: bool) -> AsyncIterator[SqlTransaction]:
        async with self.engine.connect() as conn:
            if readonly:  # SQLite: a reader must not queue behind the writer
                conn = await conn.execution_options(sqlite_begin="DEFERRED")
            async with conn.begin():
                tx = SqlTransaction(conn)
                yield tx
        self._published(tx.published)

    def _published(self, events: int) -> None:
        """Called after each commit with the number of events it published."""
        if not events:
            return
        # the data is committed: a listener's trouble must not turn the caller's success into an error
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("on-commit listener failed")

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def connections(self) -> dict[str, int] | None:
        """PostgreSQL: the held connections (size, in use, idle, units waiting), for ``/ready``."""
        return None if self._held is None else self._held.state()

    async def ping(self) -> None:
        async with self.transaction(readonly=True) as tx:
            await tx.execute(select(text("1")))

    async def migrate(self, locations: dict[str, str]) -> None:
        await migrate.upgrade(self.engine, locations)

    async def close(self) -> None:
        if self._held is not None:
            await self._held.close()
        await self.engine.dispose()
        if self._held is None:  # SQLite: terminated connections' threads end while this loop listens
            await asyncio.to_thread(engine_module.join_terminated, 5.0)
