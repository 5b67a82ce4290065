"""Statements marked ``prepared`` answer exactly as SQLAlchemy does, on both databases.

On PostgreSQL the storage adapter runs them on asyncpg directly; these tests hold that path to
SQLAlchemy's results, errors and transaction semantics, and check it is really taken."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound, ResourceClosedError
from sqlalchemy.schema import CreateTable

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage
from ports.sql import UtcDateTime, array_literal, in_list
from ports.storage import prepared

meta = MetaData()
notes = Table(
    "prepared_notes", meta,
    Column("id", Uuid, primary_key=True),
    Column("patient", String(14), nullable=False),
    Column("body", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("urgent", Boolean, nullable=False),
    Column("n", Integer, nullable=False, default=0),
)

INSERT = prepared(insert(notes))
BY_PATIENT = prepared(select(notes.c.id, notes.c.body, notes.c.at, notes.c.urgent.label("flag"))
                      .where(notes.c.patient == bindparam("patient"), notes.c.n >= 0)
                      .order_by(notes.c.at))
COUNT = prepared(select(func.count()).select_from(notes).where(notes.c.patient == bindparam("patient")))
BUMP = prepared(update(notes).where(notes.c.patient == bindparam("who")).values(n=notes.c.n + 1))
DROP = prepared(delete(notes).where(notes.c.patient == bindparam("patient")))
RENAMED = prepared(update(notes).where(notes.c.id == bindparam("key")).values(patient=bindparam("to"))
                   .returning(notes.c.id, notes.c.patient))
ANY_OF = prepared(select(notes.c.id).where(notes.c.patient.in_(bindparam("who", expanding=True))))
AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.fixture
async def storage(db_url: str) -> AsyncIterator[SqlStorage]:
    store = SqlStorage(make_engine(db_url))
    async with store.transaction() as tx:
        await tx.execute(CreateTable(notes))
    yield store
    await store.close()


def row(patient: str = "12345678901234", **changes: object) -> dict[str, object]:
    return {"id": uuid.uuid4(), "patient": patient, "body": {"text": "Кашель", "n": [1, 2]}, "at": AT,
            "urgent": True, "n": 0, **changes}


async def test_results_match_sqlalchemy(storage: SqlStorage) -> None:
    first, second = row(), row(at=AT.replace(hour=10), urgent=False)
    async with storage.transaction() as tx:
        for r in (first, second):
            assert (await tx.execute(INSERT, r)).rowcount == 1
        got = (await tx.execute(BY_PATIENT, {"patient": "12345678901234"})).all()
        assert [(r.id, r.body, r.at, r.flag) for r in got] == [
            (first["id"], first["body"], AT, True), (second["id"], second["body"], second["at"], False)]
        assert (await tx.execute(COUNT, {"patient": "12345678901234"})).scalar_one() == 2
        assert (await tx.execute(BY_PATIENT, {"patient": "nobody"})).first() is None
        assert (await tx.execute(BUMP, {"who": "12345678901234"})).rowcount == 2
        moved = (await tx.execute(RENAMED, {"key": first["id"], "to": "99999999999999"})).one()
        assert moved._mapping == {"id": first["id"], "patient": "99999999999999"}
        assert (await tx.execute(BY_PATIENT, {"patient": "99999999999999"})).mappings().one()["flag"] is True
        assert (await tx.execute(DROP, {"patient": "12345678901234"})).rowcount == 1
    async with storage.transaction(readonly=True) as tx:
        assert (await tx.execute(select(notes.c.n, notes.c.patient))).all() == [(1, "99999999999999")]


async def test_every_way_of_reading_a_result_answers_as_sqlalchemy_does(storage: SqlStorage) -> None:
    """The same questions to a prepared statement's result and to SQLAlchemy's, side by side."""
    unprepared = select(notes.c.id, notes.c.body, notes.c.at, notes.c.urgent.label("flag")).where(
        notes.c.patient == bindparam("patient")).order_by(notes.c.at)
    first, second = row(), row(at=AT.replace(hour=10), urgent=False)
    async with storage.transaction() as tx:
        for r in (first, second):
            await tx.execute(INSERT, r)

        async def both(patient: str, ask: object) -> list[object]:
            answers = []
            for stmt in (BY_PATIENT, unprepared):
                result = await tx.execute(stmt, {"patient": patient})
                try:
                    answers.append(ask(result))  # type: ignore[operator]
                except (NoResultFound, MultipleResultsFound, ResourceClosedError) as error:
                    answers.append(type(error))
            assert answers[0] == answers[1]
            return answers

        two, none = "12345678901234", "nobody"
        assert (await both(two, lambda r: r.all()))[0] == [(first["id"], first["body"], AT, True),
                                                          (second["id"], second["body"], second["at"], False)]
        assert (await both(two, lambda r: [x.flag for x in r]))[0] == [True, False]
        assert (await both(two, lambda r: (r.all(), r.all())))[0][1] == []  # a fetch consumes
        assert (await both(two, lambda r: (r.first(), r.all())))[0] is ResourceClosedError  # first() closes
        assert (await both(two, lambda r: r.scalar()))[0] == first["id"]
        assert (await both(two, lambda r: r.one()))[0] is MultipleResultsFound
        assert (await both(two, lambda r: r.one_or_none()))[0] is MultipleResultsFound
        assert (await both(none, lambda r: r.one()))[0] is NoResultFound
        for ask in (lambda r: r.one_or_none(), lambda r: r.scalar_one_or_none(), lambda r: r.first(),
                    lambda r: r.scalar()):
            assert (await both(none, ask))[0] is None
        assert (await both(two, lambda r: r.mappings().all()[1]["flag"]))[0] is False
        assert (await both(two, lambda r: r.scalars().all()))[0] == [first["id"], second["id"]]
        assert (await both(two, lambda r: (r.keys(), r.all()[0]._fields, r.rowcount)))[0][1] == (
            "id", "body", "at", "flag")
        assert (await both(two, lambda r: dict(r.all()[1]._mapping)))[0]["at"] == second["at"]


async def test_a_unique_violation_is_sqlalchemys_error_and_nothing_stays(storage: SqlStorage) -> None:
    taken = row()
    async with storage.transaction() as tx:
        await tx.execute(INSERT, taken)
    with pytest.raises(IntegrityError):
        async with storage.transaction() as tx:
            await tx.execute(INSERT, row(patient="22222222222222"))
            await tx.execute(INSERT, {**row(), "id": taken["id"]})
    async with storage.transaction(readonly=True) as tx:
        assert (await tx.execute(COUNT, {"patient": "22222222222222"})).scalar_one() == 0


async def test_a_rolled_back_unit_leaves_nothing(storage: SqlStorage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await tx.execute(INSERT, row())
            raise RuntimeError("the caller fails after writing")
    async with storage.transaction(readonly=True) as tx:
        assert (await tx.execute(COUNT, {"patient": "12345678901234"})).scalar_one() == 0


async def test_an_executemany_answers_as_sqlalchemy_and_runs_on_asyncpg(storage: SqlStorage) -> None:
    rows = [row(), row(patient="33333333333333"), row(patient="33333333333333")]
    async with storage.transaction() as tx:
        await tx.execute(INSERT, rows)
        await tx.execute(BUMP, [{"who": "33333333333333"}, {"who": "33333333333333"}])
        await tx.execute(DROP, [{"patient": "12345678901234"}])
    async with storage.transaction(readonly=True) as tx:
        got = (await tx.execute(select(notes.c.id, notes.c.n).order_by(notes.c.id))).all()
    assert sorted(got) == sorted((r["id"], 2) for r in rows[1:])
    with pytest.raises(IntegrityError):  # a unique violation in any row: SQLAlchemy's error, all undone
        async with storage.transaction() as tx:
            await tx.execute(INSERT, [row(patient="55555555555555"), {**row(), "id": rows[1]["id"]}])
    async with storage.transaction(readonly=True) as tx:
        assert (await tx.execute(COUNT, {"patient": "55555555555555"})).scalar_one() == 0
    if storage.dialect == "postgresql":
        planned = {key[0]: plan for key, plan in storage._plans.items()}
        assert planned[id(BUMP)] is not None and planned[id(DROP)] is not None


async def test_what_a_plan_cannot_do_goes_through_sqlalchemy(storage: SqlStorage) -> None:
    async with storage.transaction() as tx:
        await tx.execute(INSERT, [row(), {**row(patient="33333333333333"), "extra": 1}])  # keys differ
        defaulted = {k: v for k, v in row(patient="44444444444444").items() if k != "n"}
        await tx.execute(INSERT, defaulted)  # the column default is SQLAlchemy's to fill in
        found = (await tx.execute(ANY_OF, {"who": ["33333333333333", "44444444444444"]})).all()
        assert len(found) == 2
        assert (await tx.execute(select(notes.c.n).where(notes.c.id == defaulted["id"]))).scalar_one() == 0


async def test_postgresql_runs_prepared_statements_on_asyncpg(storage: SqlStorage) -> None:
    async with storage.transaction() as tx:
        await tx.execute(INSERT, row())
        await tx.execute(BY_PATIENT, {"patient": "12345678901234"})
        await tx.execute(ANY_OF, {"who": ["12345678901234"]})
    planned = {key[0]: plan for key, plan in storage._plans.items()}
    if storage.dialect == "sqlite":
        assert planned == {}
        return
    assert planned[id(INSERT)] is not None and planned[id(BY_PATIENT)] is not None
    assert planned[id(ANY_OF)] is None  # expanding IN: SQLAlchemy's


AWKWARD = ['say "hi"', "back\\slash", "com,ma", "{brace}", "[bracket]", "null", "NULL", "two words",
           "new\nline", "Кашель", "", " lead", "tab\tbed"]


async def test_a_list_bound_as_one_array_literal_finds_exactly_its_values(storage: SqlStorage) -> None:
    """``in_list`` binds a PostgreSQL array as one text literal: quotes, backslashes, commas,
    braces, the word null, spaces and control characters must all arrive as they were."""
    rows = [row(patient=p) for p in AWKWARD]
    by_patient = {dialect: prepared(select(notes.c.patient).where(in_list(notes.c.patient, "who", dialect)))
                  for dialect in ("postgresql", "sqlite")}
    by_id = {dialect: prepared(select(notes.c.patient).where(in_list(notes.c.id, "ids", dialect)))
             for dialect in ("postgresql", "sqlite")}
    async with storage.transaction() as tx:
        for r in rows:
            await tx.execute(INSERT, r)
        for wanted in ([p] for p in AWKWARD):
            found = (await tx.execute(by_patient[tx.dialect], {"who": wanted})).scalars().all()
            assert found == wanted
        found = (await tx.execute(by_patient[tx.dialect], {"who": [*AWKWARD, None, "absent"]})).scalars().all()
        assert sorted(found) == sorted(AWKWARD)
        assert (await tx.execute(by_patient[tx.dialect], {"who": []})).all() == []
        some = [r["id"] for r in rows[:3]]
        found = (await tx.execute(by_id[tx.dialect], {"ids": some})).scalars().all()
        assert sorted(found) == sorted(AWKWARD[:3])


def test_an_array_literal_is_postgresqls_text_form() -> None:
    assert array_literal([1, 22, 333]) == "{1,22,333}"
    assert array_literal([]) == "{}"
    assert array_literal([uuid.UUID(int=1)]) == '{"00000000-0000-0000-0000-000000000001"}'
    assert array_literal(["a b", None, 'q"', "b\\s"]) == '{"a b",NULL,"q\\"","b\\\\s"}'
