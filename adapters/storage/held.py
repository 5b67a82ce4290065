"""PostgreSQL connections held out of SQLAlchemy's pool, with transactions begun and ended here.

Checking a connection out of SQLAlchemy's pool and back, and its begin/commit, cost more client
CPU than the statements of a short unit of work (about 150 µs of a 330 µs unit; every request runs
two units, the sign-in check and its own). So each connection is checked out once, switched to
autocommit, and kept: a unit takes an idle one, sends ``BEGIN`` and ``COMMIT``/``ROLLBACK`` itself
(a read-only unit sends neither: in READ COMMITTED every statement has its own snapshot anyway),
and gives it back. Statements still go through SQLAlchemy, or straight to asyncpg for prepared
ones (:mod:`adapters.storage.plans`), and run inside that server-side transaction.

A connection that failed or lost track of its transaction is thrown away, never reused. At most
``size`` are held (SQLAlchemy's pool must allow that many); a unit beyond that waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.plans import Plan, Runner
from adapters.storage.transaction import SqlTransaction

log = logging.getLogger("shifo.storage")
_BEGIN = "BEGIN"
#: For work the outbox replays if it is lost: a database crash can lose such a commit only
#: whole and only with the commits after it, never a part of it, and then the events it
#: delivered are still pending and the relay delivers them again. Sent with BEGIN in one
#: round trip (the simple query protocol takes several statements).
_BEGIN_REPLAYABLE = "BEGIN; SET LOCAL synchronous_commit TO off"


class Held:
    __slots__ = ("conn", "driver", "loop", "runner")

    def __init__(self, conn: AsyncConnection, runner: Runner, driver: Any) -> None:
        self.conn, self.runner, self.driver = conn, runner, driver
        self.loop = asyncio.get_running_loop()


def _idle_now(held: Held) -> bool:
    return not held.driver.is_closed() and not held.driver.is_in_transaction()


class HeldConnections:
    def __init__(self, engine: AsyncEngine, plans: dict[tuple[int, tuple[str, ...]], Plan | None],
                 size: int) -> None:
        self.engine, self.plans = engine, plans
        self._idle: list[Held] = []
        self._slots = asyncio.Semaphore(size)

    async def _open(self) -> Held:
        conn = await self.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            adapted: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
            return Held(conn, Runner(conn, self.plans), adapted._connection)
        except BaseException:
            await conn.close()
            raise

    def _take(self) -> Held | None:
        loop = asyncio.get_running_loop()
        while self._idle:
            held = self._idle.pop()
            if held.loop is loop and not held.driver.is_closed():
                return held
            with contextlib.suppress(Exception):  # another event loop's, or closed: drop it
                held.driver.terminate()
        return None

    def unit(self, *, readonly: bool, committed: Callable[[int], None], durable: bool = True,
             lock: int | None = None) -> Unit:
        """A unit of work on a held connection: a transaction (``readonly``: autocommit, no
        BEGIN/COMMIT). ``committed`` is told how many events it published once it committed.
        ``durable=False``: the commit does not wait for the WAL flush (see ``_BEGIN_REPLAYABLE``).
        ``lock``: a transaction-scoped advisory lock taken with the BEGIN, in its round trip."""
        begin = _BEGIN if durable else _BEGIN_REPLAYABLE
        if lock is not None:
            if readonly:  # it sends no BEGIN, and a lock would end with its first statement
                raise ValueError("a read-only unit cannot hold a transaction-scoped lock")
            begin = f"{begin}; SELECT pg_advisory_xact_lock({int(lock)})"
        return Unit(self, readonly, committed, begin)

    @staticmethod
    async def _rolled_back(held: Held, readonly: bool) -> bool:
        try:
            if not readonly:
                await held.driver.execute("ROLLBACK")
        except Exception:
            return False
        return _idle_now(held)

    @staticmethod
    async def _discard(held: Held) -> None:
        try:
            await held.conn.invalidate()
            await held.conn.close()
        except Exception:  # already broken: its slot in SQLAlchemy's pool is freed either way
            log.debug("discarding a broken connection failed", exc_info=True)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for held in idle:
            await held.conn.close()


class Unit:
    """One unit of work. A class, not a generator-based context manager: it runs twice per
    request, and each layer of ``asynccontextmanager`` cost more than the checks it wraps.
    An error rolls the transaction back and keeps the connection; a cancellation throws it away,
    since a statement may still be running on it."""

    __slots__ = ("begin", "committed", "held", "pool", "readonly", "tx")

    def __init__(self, pool: HeldConnections, readonly: bool, committed: Callable[[int], None],
                 begin: str) -> None:
        self.pool, self.readonly, self.committed, self.begin = pool, readonly, committed, begin

    async def __aenter__(self) -> SqlTransaction:
        pool = self.pool
        await pool._slots.acquire()
        try:
            held = pool._take() or await pool._open()
        except BaseException:
            pool._slots.release()
            raise
        if not self.readonly:
            try:
                await held.driver.execute(self.begin)
            except BaseException:
                await self._give_back(held, reusable=False)
                raise
        self.held = held
        self.tx = SqlTransaction(held.conn, held.runner)
        return self.tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        held, reusable = self.held, False
        try:
            if kind is None:
                if not self.readonly:
                    await held.driver.execute("COMMIT")
                reusable = _idle_now(held)
            elif issubclass(kind, Exception):
                reusable = await self.pool._rolled_back(held, self.readonly)
        finally:
            await self._give_back(held, reusable)
        if kind is None:
            self.committed(self.tx.published)

    async def _give_back(self, held: Held, reusable: bool) -> None:
        try:
            if reusable:
                self.pool._idle.append(held)
            else:
                await self.pool._discard(held)
        finally:
            self.pool._slots.release()
