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
(asyncpg notices the socket's end: ``is_closed()``) is closed at once, never reused, and its slot
is free at once. After an error a connection is reused only if it answers ``ROLLBACK`` (a
read-only unit whose error looks like a connection fault: ``SELECT 1``) within ``timeout``
seconds. Nothing waits forever on a server that stopped answering (a partition, a frozen host):
waiting for a slot, opening a connection and ``BEGIN`` on a reused one give up after ``timeout``
seconds, any other statement after the engine's ``command_timeout``
(:func:`adapters.storage.engine.make_engine`), and a connection that timed out takes the idle
ones with it (they talk to the same server). A ``BEGIN`` that fails on a reused connection
because it died idle is tried once more on a fresh one. Every connection fault is raised as
:class:`core.errors.Unavailable` (503), logged once per outage (:mod:`adapters.storage.faults`);
one during ``COMMIT`` as :class:`core.errors.OutcomeUnknown`.
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
                 size: int, timeout: float = 3.0, lock_wait: float = 10.0) -> None:
        self.engine, self.plans, self.size, self.timeout = engine, plans, size, timeout
        self.lock_wait = lock_wait  # the longest wait for a lock taken with BEGIN (``unit(lock=)``)
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
        except TimeoutError:
            raise self.outage.busy(self.size, self.timeout) from None  # overloaded, not a fault

    async def _ready(self, held: Held | None, begin: str | None, wait: float) -> Held:
        """``held`` if it is alive (else the next idle one that is) or a fresh connection, with
        ``begin`` sent (within ``wait`` seconds). A reused connection whose BEGIN fails for the
        connection's sake is replaced once, by a fresh one."""
        loop = asyncio.get_running_loop()
        while held is not None and (held.loop is not loop or held.driver.is_closed()):
            await self._discard(held)  # closed by the server, or another event loop's
            held = self._idle.pop() if self._idle else None
        if held is None:
            return await self._fresh(begin, wait)
        if begin is not None:
            try:
                await held.driver.execute(begin, timeout=wait)
            except BaseException as exc:
                return await self._begin_failed(held, exc, begin, wait)
        return held

    async def _begin_failed(self, held: Held, exc: BaseException, begin: str, wait: float) -> Held:
        """BEGIN failed on an idle connection: if it died idle, one fresh try; if it did not
        answer in time, the server is not answering: no fresh try, and the idle ones go too;
        else (a statement's own error) re-raise."""
        broken = isinstance(exc, Exception) and (lost(exc) or held.driver.is_closed())
        await self._discard(held, hard=broken or not isinstance(exc, Exception))
        if not broken:
            raise exc
        if isinstance(exc, TimeoutError):
            await self._drop_idle()
            raise self.outage.unavailable(exc) from exc
        return await self._fresh(begin, wait)

    async def _fresh(self, begin: str | None, wait: float) -> Held:
        held = await self._open()
        if begin is not None:
            try:
                await held.driver.execute(begin, timeout=wait)
            except BaseException as exc:
                await self._discard(held, hard=True)
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
        ``lock``: a transaction-scoped advisory lock taken with the BEGIN, in its round trip;
        waited for at most ``lock_wait`` seconds (its holder may be a process that died, whose
        session lasts until the server notices), then the lock timeout's error (55P03)."""
        begin, wait = (_BEGIN if durable else _BEGIN_REPLAYABLE), self.timeout
        if lock is not None:
            if readonly:  # it sends no BEGIN, and a lock would end with its first statement
                raise ValueError("a read-only unit cannot hold a transaction-scoped lock")
            begin = (f"{begin}; SET LOCAL lock_timeout TO {int(self.lock_wait * 1000)}; "
                     f"SELECT pg_advisory_xact_lock({int(lock)}); SET LOCAL lock_timeout TO DEFAULT")
            wait += self.lock_wait
        return Unit(self, readonly, committed, begin, wait)

    async def _rolled_back(self, held: Held, readonly: bool, error: BaseException | None) -> bool:
        """May ``held`` serve the next unit after ``error``? Only if it answers ``ROLLBACK`` (a
        read-only unit after what looks like a connection fault: ``SELECT 1``) within
        ``timeout``: a statement that timed out is cancelled first, which a frozen server never
        acknowledges."""
        try:
            if not readonly:
                await held.driver.execute("ROLLBACK", timeout=self.timeout)
            elif error is not None and lost(error):
                await held.driver.execute("SELECT 1", timeout=self.timeout)
        except TimeoutError:
            await self._drop_idle()  # the server does not answer: its other connections go too
            return False
        except Exception:
            return False
        return _idle_now(held)

    async def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for held in idle:
            await self._discard(held, hard=True)

    @staticmethod
    async def _discard(held: Held, hard: bool = False) -> None:
        """Invalidate and close: the connection is gone for good (SQLAlchemy's pool keeps none).
        ``hard`` (it failed or is busy): no graceful close, which waits for the server."""
        if hard or held.driver.is_closed() or held.loop is not asyncio.get_running_loop():
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

    __slots__ = ("begin", "committed", "held", "pool", "readonly", "tx", "wait")

    def __init__(self, pool: HeldConnections, readonly: bool, committed: Callable[[int], None],
                 begin: str, wait: float) -> None:
        self.pool, self.readonly, self.committed, self.begin = pool, readonly, committed, begin
        self.wait = wait  # for BEGIN's answer

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
                        await held.driver.execute(self.begin, timeout=self.wait)
                    except BaseException as exc:
                        held = await pool._begin_failed(held, exc, self.begin, self.wait)
            else:
                held = await pool._ready(held, None if self.readonly else self.begin, self.wait)
        except BaseException:
            pool._slots.release()
            raise
        self.held = held
        self.tx = SqlTransaction(held.conn, held.runner)
        self.tx.commits = not self.readonly
        return self.tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        held, reusable, pool = self.held, False, self.pool
        try:
            if kind is None:
                if not self.readonly:
                    if held.driver.is_closed():  # the server ended the session: nothing committed
                        raise pool.outage.unavailable(ConnectionError("connection closed before COMMIT"))
                    last = self.tx.with_commit  # e.g. the relay's mark (adapters.storage.outbox)
                    await held.driver.execute(f"{last}; COMMIT" if last else "COMMIT")
                reusable = _idle_now(held)
            elif issubclass(kind, Exception):
                reusable = await pool._rolled_back(held, self.readonly, error)
        except Exception as exc:
            if isinstance(exc, Unavailable) or (not lost(exc) and not held.driver.is_closed()):
                raise  # not committed: the server refused the COMMIT (a deferred check, say)
            raise pool.outage.commit_failed(exc) from exc  # sent, and no answer: stored or not?
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
                await self.pool._discard(held, hard=True)
        finally:
            self.pool._slots.release()
