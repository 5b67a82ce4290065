"""Prepared statements on PostgreSQL: compiled once, run straight on the asyncpg connection.

SQLAlchemy spends more client CPU per statement than the round trip itself costs (cache key,
execution context, cursor emulation, greenlet switches). For a statement a module built once and
marked with :func:`ports.storage.prepared`, this keeps the compiled SQL, the order of its
parameters and its type processors, and runs it with asyncpg inside the same transaction
SQLAlchemy opened. Rows are SQLAlchemy ``Row`` objects in a result that answers as SQLAlchemy's
does (:mod:`adapters.storage.rows`), and errors are SQLAlchemy's, so callers cannot tell the paths
apart. An executemany of a statement without RETURNING runs as asyncpg's ``executemany`` (one
pipelined round trip) when every row has the same keys. Anything a plan cannot do exactly as
SQLAlchemy would (expanding ``IN``, Python-side column defaults, RETURNING for many rows) goes
through SQLAlchemy instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Delete, Insert, Select, Update

from adapters.storage.rows import Rows, make_rows

_NO_ROWS = SimpleResultMetaData(())  # what an INSERT/UPDATE/DELETE without RETURNING answers
Processor = Callable[[Any], Any] | None


class Plan:
    """One statement compiled for one set of parameter names."""

    __slots__ = ("binds", "fixed", "keys", "meta", "names", "pick", "results", "sql")
    binds: list[tuple[int, Callable[[Any], Any]]]
    results: list[tuple[int, Callable[[Any], Any]]]

    def __init__(self, sql: str, names: tuple[str, ...], fixed: dict[str, Any], binds: list[Processor],
                 keys: tuple[str, ...] | None, results: list[Processor]) -> None:
        self.sql, self.names, self.fixed = sql, names, fixed
        self.binds = [(i, proc) for i, proc in enumerate(binds) if proc is not None]
        self.keys = keys
        self.results = [(i, proc) for i, proc in enumerate(results) if proc is not None]
        self.meta = SimpleResultMetaData(keys) if keys is not None else None
        # the parameters in the statement's order, picked in C when the caller passes them all
        self.pick = itemgetter(*names) if len(names) > 1 and not fixed else None

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        pick = self.pick
        if pick is not None:
            args = list(pick(params))
        else:
            args = [params[n] if n in params else self.fixed[n] for n in self.names]
        for i, proc in self.binds:
            if args[i] is not None:
                args[i] = proc(args[i])
        return args


def compile_plan(statement: Any, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
    """The plan for ``statement`` run with parameters named ``keys``; None if SQLAlchemy must run it."""
    if not isinstance(statement, (Select, Insert, Update, Delete)):
        return None
    try:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    except exc.SQLAlchemyError:
        return None  # let SQLAlchemy raise it where the caller expects it
    if (compiled.insert_prefetch or compiled.update_prefetch or compiled.positiontup is None
            or compiled.escaped_bind_names):
        return None  # Python-side defaults are computed by SQLAlchemy's execution context
    fixed: dict[str, Any] = {}
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            return None
        if name not in keys:
            if bind.required:
                return None
            fixed[name] = bind.value
    procs = compiled._bind_processors
    binds = [procs.get(n) for n in compiled.positiontup]
    columns = compiled._result_columns
    try:
        results = [c.type._cached_result_processor(dialect, None) for c in columns]
    except (TypeError, ValueError):  # a processor that needs the driver's column type
        return None
    result_keys = tuple(c.keyname for c in columns) if columns else None
    return Plan(str(compiled), tuple(compiled.positiontup), fixed, binds, result_keys, results)


class Runner:
    """Runs plans on one transaction's connection; keeps plans per (statement, parameter names)."""

    def __init__(self, conn: AsyncConnection, plans: dict[tuple[int, tuple[str, ...]], Plan | None]) -> None:
        self.conn, self.plans = conn, plans
        self.adapted: Any = None

    def plan(self, statement: Any, params: Mapping[str, Any]) -> Plan | None:
        key = (id(statement), tuple(params))
        try:
            return self.plans[key]
        except KeyError:
            found = self.plans[key] = compile_plan(statement, tuple(params), self.conn.dialect)
            return found

    async def _begun(self) -> Any:
        """SQLAlchemy's asyncpg connection adapter, its transaction begun."""
        adapted = self.adapted
        if adapted is None:
            adapted = self.adapted = self.conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        if adapted._transaction is None and not adapted.autocommit:
            await adapted._start_transaction()  # SQLAlchemy begins lazily, on the first statement
        return adapted

    async def run(self, plan: Plan, params: Mapping[str, Any]) -> Any:
        adapted = await self._begun()
        args = plan.arguments(params)
        driver: asyncpg.Connection = adapted._connection
        try:
            if plan.meta is None:
                status = await driver.execute(plan.sql, *args)
                done = Rows(_NO_ROWS, [])
                done.rowcount = _rowcount(status)
                return done
            records = await driver.fetch(plan.sql, *args)
        except asyncpg.PostgresError as error:
            raise _translated(adapted, plan.sql, args, error) from error
        if plan.results:
            processed = []
            for record in records:
                row = list(record)
                for i, proc in plan.results:
                    if row[i] is not None:
                        row[i] = proc(row[i])
                processed.append(row)
            records = processed
        return Rows(plan.meta, make_rows(plan.meta, records))


    async def run_many(self, plan: Plan, rows: list[Mapping[str, Any]]) -> Any:
        """An INSERT/UPDATE/DELETE without RETURNING for each row: asyncpg's ``executemany``, one
        pipelined round trip. Its rowcount is -1, as SQLAlchemy's asyncpg executemany answers."""
        adapted = await self._begun()
        args = [plan.arguments(row) for row in rows]
        driver: asyncpg.Connection = adapted._connection
        try:
            await driver.executemany(plan.sql, args)
        except asyncpg.PostgresError as error:
            raise _translated(adapted, plan.sql, args[0], error) from error
        done = Rows(_NO_ROWS, [])
        done.rowcount = -1
        return done


def _rowcount(status: str) -> int:
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else -1


def _translated(adapted: Any, sql: str, args: list[Any], error: Exception) -> Exception:
    """The SQLAlchemy error SQLAlchemy would have raised (IntegrityError for a unique violation...)."""
    try:
        adapted._handle_exception(error)
    except Exception as dbapi_error:
        return exc.DBAPIError.instance(sql, args, dbapi_error, adapted.dbapi.Error)
    return error  # pragma: no cover - _handle_exception always raises
