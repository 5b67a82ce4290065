"""PostgreSQL connections held by the adapter, with transactions begun and ended here.

Checking a connection out of SQLAlchemy's pool and back, and its begin/commit, cost more client
CPU than the statements of a short unit of work (about 150 µs of a 330 µs unit; every request runs
two units, the sign-in check and its own). So this is the pool: each connection is opened once
(SQLAlchemy's ``NullPool`` underneath, so no second count of connections can disagree with this
one), switched to autocommit, and kept: a unit takes an idle one, sends ``BEGIN`` and
``COMMIT``/``ROLLBACK`` itself (a read-only unit sends neither: in READ COMMITTED every statement
has its own snapshot anyway), and gives it back. Statements still go through SQLAlchemy, or
straight to asyncpg for prepared ones (:mod:`adapters.storage.plans`).

Faults: a connection that failed, lost track of its transaction or was closed by the server
(asyncpg notices the socket's end: ``is_closed()``) is invalidated and closed, never reused, and
its slot is free at once. A ``BEGIN`` that fails on a reused connection is tried once more on a
fresh one. Waiting for a slot or opening a connection fails after ``timeout`` seconds, and every
connection fault is raised as :class:`core.errors.Unavailable` (503), logged once per outage
(:mod:`adapters.storage.faults`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.faults import Outage, lost
from adapters.storage.plans import Plan, Runner
from adapters.storage.transaction import SqlTransaction
from core.errors import Unavailable

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
                 size: int, timeout: float = 3.0) -> None:
        self.engine, self.plans, self.size, self.timeout = engine, plans, size, timeout
        self._idle: list[Held] = []
        self._slots = asyncio.Semaphore(size)
        self.outage = Outage()

    def state(self) -> dict[str, int]:
        """For ``/ready``: connections held (idle or in a unit) out of ``size``, and units waiting."""
        free = self._slots._value  # asyncio.Semaphore keeps no public count
        waiting = len(self._slots._waiters or ())
        return {"size": self.size, "in_use": self.size - free, "idle": len(self._idle),
                "held": self.size - free + len(self._idle), "waiting": waiting}

    async def _open(self) -> Held:
        try:
            async with asyncio.timeout(self.timeout):
                conn = await self.engine.connect()
        except Exception as exc:  # refused, starting up, timed out: the database is not there
            raise self.outage.unavailable(exc) from exc
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            adapted: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
            return Held(conn, Runner(conn, self.plans), adapted._connection)
        except BaseException:
            await conn.close()
            raise

    async def _acquire(self) -> None:
        """Wait for a slot at most ``timeout`` seconds (every slot busy: a unit beyond them)."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise self.outage.busy(self.size, self.timeout) from exc

    async def _ready(self, held: Held | None, begin: str | None) -> Held:
        """``held`` if it is alive (else the next idle one that is) or a fresh connection, with
        ``begin`` sent. A reused connection whose BEGIN fails for the connection's sake is
        replaced once, by a fresh one."""
        loop = asyncio.get_running_loop()
        while held is not None and (held.loop is not loop or held.driver.is_closed()):
            await self._discard(held)  # closed by the server, or another event loop's
            held = self._idle.pop() if self._idle else None
        if held is None:
            return await self._fresh(begin)
        if begin is not None:
            try:
                await held.driver.execute(begin)
            except BaseException as exc:
                return await self._begin_failed(held, exc, begin)
        return held

    async def _begin_failed(self, held: Held, exc: BaseException, begin: str) -> Held:
        """BEGIN failed on an idle connection: if it died idle, one fresh try; else re-raise."""
        await self._discard(held)
        if not isinstance(exc, Exception) or not (lost(exc) or held.driver.is_closed()):
            raise exc
        return await self._fresh(begin)

    async def _fresh(self, begin: str | None) -> Held:
        held = await self._open()
        if begin is not None:
            try:
                await held.driver.execute(begin)
            except BaseException as exc:
                await self._discard(held)
                if isinstance(exc, Exception) and lost(exc):
                    raise self.outage.unavailable(exc) from exc
                raise
        self.outage.over()
        return held

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
        """Invalidate and close: the connection is gone for good (SQLAlchemy's pool keeps none)."""
        if held.driver.is_closed() or held.loop is not asyncio.get_running_loop():
            with contextlib.suppress(Exception):  # no graceful close to wait for
                held.driver.terminate()
        try:
            await held.conn.invalidate()
            await held.conn.close()
        except Exception:  # already broken: nothing is left to free
            log.debug("discarding a broken connection failed", exc_info=True)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        for held in idle:
            if held.loop is loop and not held.driver.is_closed():
                with contextlib.suppress(Exception):
                    await held.conn.close()  # NullPool: closes it, gracefully
                    continue
            await self._discard(held)


class Unit:
    """One unit of work. A class, not a generator-based context manager: it runs twice per
    request, and each layer of ``asynccontextmanager`` cost more than the checks it wraps.
    An error rolls the transaction back and keeps the connection; a cancellation throws it away,
    since a statement may still be running on it. A connection fault raises ``Unavailable``."""

    __slots__ = ("begin", "committed", "held", "pool", "readonly", "tx")

    def __init__(self, pool: HeldConnections, readonly: bool, committed: Callable[[int], None],
                 begin: str) -> None:
        self.pool, self.readonly, self.committed, self.begin = pool, readonly, committed, begin

    async def __aenter__(self) -> SqlTransaction:
        pool = self.pool
        slots = pool._slots
        if slots._value <= 0 or slots._waiters:  # Semaphore.locked(), without its generator
            await pool._acquire()
        else:
            await slots.acquire()  # a free slot: no wait, no timer
        try:
            idle = pool._idle
            held = idle.pop() if idle else None
            if (held is not None and held.loop is asyncio.get_running_loop()
                    and not held.driver.is_closed()):  # the usual case, on the spot
                if not self.readonly:
                    try:
                        await held.driver.execute(self.begin)
                    except BaseException as exc:
                        held = await pool._begin_failed(held, exc, self.begin)
            else:
                held = await pool._ready(held, None if self.readonly else self.begin)
        except BaseException:
            pool._slots.release()
            raise
        self.held = held
        self.tx = SqlTransaction(held.conn, held.runner)
        return self.tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        held, reusable, pool = self.held, False, self.pool
        try:
            if kind is None:
                if not self.readonly:
                    await held.driver.execute("COMMIT")
                reusable = _idle_now(held)
            elif issubclass(kind, Exception):
                reusable = await pool._rolled_back(held, self.readonly)
        except Exception as exc:
            if not lost(exc) and not held.driver.is_closed():
                raise
            raise pool.outage.unavailable(exc) from exc  # e.g. COMMIT on a dead connection
        finally:
            await self._give_back(held, reusable)
        if kind is None:
            if pool.outage.since is not None:
                pool.outage.over()
            self.committed(self.tx.published)
        elif (not reusable and isinstance(error, Exception) and not isinstance(error, Unavailable)
              and (held.driver.is_closed() or lost(error))):
            raise pool.outage.unavailable(error) from error

    async def _give_back(self, held: Held, reusable: bool) -> None:
        try:
            if reusable:
                self.pool._idle.append(held)
            else:
                await self.pool._discard(held)
        finally:
            self.pool._slots.release()
