"""Column types shared by storage adapters and module tables, so both read the same values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import ARRAY, DateTime, Text, any_, bindparam, cast
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite keeps no zone of its own).

    Naive datetimes are refused on the way in: a clinical time without a zone is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        full = super().bind_processor(dialect)
        # the shortcut below skips the driver's own processor too: only where there is none
        drivers = dialect.type_descriptor(self.impl).bind_processor(dialect)
        if dialect.name == "sqlite" or full is None or drivers is not None:
            return full

        def aware(value: datetime | None) -> Any:  # a UTC stamp (utcnow's) passes as it is
            return value if value is None or value.tzinfo is UTC else full(value)

        return aware

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        # asyncpg already reads timestamptz as an aware UTC datetime: nothing to do per value
        # (a page of the card reads two per entry)
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: the dialects a statement built by :func:`in_list` is built for, once each
DIALECTS = ("postgresql", "sqlite")


def in_list(column: Any, name: str, dialect: str) -> Any:
    """``column IN`` the list passed as parameter ``name``, written so the statement can be built
    once and kept prepared: on PostgreSQL ``= ANY(array)``, one parameter whatever the list's
    length; elsewhere an expanding ``IN``. Build one statement per dialect and pick by
    ``Transaction.dialect``."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ArrayLiteral(column.type)))
    return column.in_(bindparam(name, expanding=True))


class ArrayLiteral(TypeDecorator[Sequence[Any]]):
    """A one-dimensional PostgreSQL array of scalars (numbers, UUIDs, strings, None), bound as one
    text literal and cast to ``item[]`` in the statement.

    asyncpg encodes a list element by element and first asks of each whether it is itself an
    array, through three ``collections.abc`` checks in Python: about 8 K instructions an element,
    which made the arrays of a relay batch (ids, consumers, outbox rows) its largest single cost.
    msgspec writes the list as JSON in C, and that JSON is already the array's literal whenever
    it holds no backslash, ``null`` or nested bracket; otherwise each element is quoted here.
    """

    impl = Text
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def bind_expression(self, bindvalue: BindParameter[Any]) -> ColumnElement[Any]:
        return cast(bindvalue, ARRAY(self.item))

    def process_bind_param(self, value: Sequence[Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else array_literal(value)


def array_literal(values: Sequence[Any]) -> str:
    """PostgreSQL's text form of a one-dimensional array of scalars: ``{1,2}``, ``{"a","b c"}``."""
    inner = msgspec.json.encode(values)[1:-1].decode()  # str: bytes' "in" tries an int first
    if "\\" not in inner and "null" not in inner and "[" not in inner and "{" not in inner:
        return "{" + inner + "}"
    return "{" + ",".join("NULL" if v is None else _quoted(str(v)) for v in values) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
