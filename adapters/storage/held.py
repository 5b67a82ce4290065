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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.plans import Plan, Runner

log = logging.getLogger("shifo.storage")


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

    @asynccontextmanager
    async def unit(self, *, readonly: bool) -> AsyncIterator[Held]:
        """A held connection inside a transaction (``readonly``: in autocommit) for one unit.
        An error rolls it back and keeps the connection; a cancellation throws it away, since a
        statement may still be running on it."""
        async with self._slots:
            held = self._take() or await self._open()
            reusable = False
            try:
                if not readonly:
                    await held.driver.execute("BEGIN")
                try:
                    yield held
                except Exception:
                    reusable = await self._rolled_back(held, readonly)
                    raise
                if not readonly:
                    await held.driver.execute("COMMIT")
                reusable = _idle_now(held)
            finally:
                if reusable:
                    self._idle.append(held)
                else:
                    await self._discard(held)

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
