"""The result of a prepared statement: SQLAlchemy's own rows, without a ``Result`` per statement.

A ``Result`` builds its row getters and filters afresh for every statement: about 2 µs, seven
times as much as the one row a lookup returns, and a request runs about eight statements. These
rows are SQLAlchemy ``Row`` objects, made as its results make them, so callers cannot tell them
apart. The methods the modules call are answered here, with SQLAlchemy's semantics (a fetch
consumes; ``first`` and the ``scalar`` and ``one`` forms close; ``one`` raises SQLAlchemy's errors);
any other is handed to a real ``IteratorResult`` over the rows not yet consumed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.engine.row import Row


def make_rows(meta: SimpleResultMetaData, records: Sequence[Sequence[Any]]) -> list[Any]:
    """``Row`` objects for ``records`` (already processed), as SQLAlchemy's results make them."""
    index = meta._key_to_index
    return [Row(meta, None, index, record) for record in records]


class Rows:
    __slots__ = ("_at", "_closed", "_meta", "_rows", "rowcount")

    def __init__(self, meta: SimpleResultMetaData, rows: list[Any]) -> None:
        self._meta, self._rows, self._at, self._closed = meta, rows, 0, False
        self.rowcount = len(rows)

    def _rest(self) -> list[Any]:
        if self._closed:
            raise exc.ResourceClosedError("This result object is closed.")
        rest = self._rows[self._at:] if self._at else self._rows
        self._at = len(self._rows)
        return rest

    def _last(self) -> list[Any]:
        """The rest, for a method that closes the result as SQLAlchemy's does."""
        rest = self._rest()
        self._closed = True
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rest())

    def keys(self) -> Any:
        return self._meta.keys

    def all(self) -> list[Any]:
        return self._rest()

    fetchall = all

    def first(self) -> Any:
        rest = self._last()
        return rest[0] if rest else None

    def one_or_none(self) -> Any:
        rest = self._last()
        if len(rest) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when one or none was required")
        return rest[0] if rest else None

    def one(self) -> Any:
        rest = self._last()
        if not rest:
            raise exc.NoResultFound("No row was found when one was required")
        if len(rest) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rest[0]

    def scalar(self) -> Any:
        found = self.first()
        return None if found is None else found[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        found = self.one_or_none()
        return None if found is None else found[0]

    def __getattr__(self, name: str) -> Any:
        """Anything else (``mappings``, ``scalars``, ``partitions``...): SQLAlchemy's own result."""
        result: Any = IteratorResult(self._meta, iter([tuple(r) for r in self._rest()]))
        result.rowcount = self.rowcount
        return getattr(result, name)
