"""The audit trail: written with the change it records, append-only, and tamper-evident."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from host import audit
from host.audit import AuditEntry, audit_log
from tests.access.world import app, bearer, facilities, pinfl, settings, staff, token
from tests.conftest import PG_DSN
from tests.support import ALL_MODULES, PASSWORD, opened

PATIENT = "31505850000017"
CHAIN = audit.chain_of({"patient": PATIENT})
AT = f"chain = {CHAIN} AND seq"  # WHERE {AT} = 3: the patient's third entry
OTHER = next(p for n in range(1, 99) if audit.chain_of({"patient": (p := pinfl(n))}) != CHAIN)


async def entries(s: Any) -> list[Any]:
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        c = audit_log.c
        return list((await tx.execute(select(audit_log).order_by(c.at, c.chain, c.seq))).all())


async def append(s: Any, n: int, patient: str = PATIENT) -> None:
    """``n`` entries: the first two one per transaction, the rest in one batch (``record_all``),
    so every check of the chain below holds for batch-appended entries as for single ones."""
    items = [AuditEntry(action="medcard.entry/read", actor=str(uuid.uuid4()), role="doctor", facility="F1",
                        patient=patient, object=f"entry-{i}", request_id=f"r{i}", client="10.0.0.1")
             for i in range(n)]
    async with opened(s) as rt:
        for item in items[:2]:
            async with rt.storage.transaction() as tx:
                await audit.record(tx, item)
        if items[2:]:
            async with rt.storage.transaction() as tx:
                await audit.record_all(tx, items[2:])


async def verify(s: Any) -> audit.Report:
    async with opened(s) as rt:
        return await audit.verify(rt.storage, batch=3)  # small batches: the walk crosses pages


async def test_logins_refusals_and_reads_are_audited_with_who_and_where(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        await facilities(rt, {"F1": ALL_MODULES, "F2": ALL_MODULES})
        await staff(rt, "doctor", [("F1", "doctor")], n=1)
        doc = bearer(await token(rt, "doctor"))
    async with AsyncTestClient(app(s)) as client:
        await client.post("/api/v1/auth/login", json={"login": "doctor", "password": "wrong"})
        await client.post("/api/v1/auth/login", json={"login": "doctor", "password": PASSWORD})
        await client.get("/api/v1/medcard", headers={"X-Request-Id": "req-401"})
        await client.get("/api/v1/medcard", headers={**doc, "X-Facility": "F2", "X-Request-Id": "req-403"})
    rows = await entries(s)
    got = [(r.action, r.login, r.facility, r.outcome, r.request_id) for r in rows]
    assert [g[:4] for g in got[:2]] == [("auth/login", "doctor", None, "failed"),
                                        ("auth/login", "doctor", None, "ok")]
    assert got[2:] == [("medcard.module/read", None, None, "denied:401", "req-401"),
                       ("medcard.module/read", "doctor", "F2", "denied:403", "req-403")]
    assert all(r.client == "testclient" and r.at is not None for r in rows)
    assert rows[3].role == "staff" and rows[3].object == "GET /api/v1/medcard"
    assert (await verify(s)).ok


async def test_entry_commits_or_vanishes_with_its_transaction(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        with pytest.raises(RuntimeError):
            async with rt.storage.transaction() as tx:
                await audit.record(tx, AuditEntry(action="medcard.entry/record", patient="31505850000017"))
                raise RuntimeError("the write failed")
    assert await entries(s) == []
    await append(s, 2)
    await append(s, 1, patient=OTHER)
    await append(s, 1)
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        who = await audit.accesses(tx, PATIENT)
    assert [(e.chain, e.seq) for e in who] == [(CHAIN, 3), (CHAIN, 2), (CHAIN, 1)]  # one chain per patient
    assert who[0].role == "doctor" and who[0].client == "10.0.0.1" and who[0].at >= who[1].at


async def test_concurrent_appends_keep_every_chain_whole(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        async def one(i: int) -> None:
            async with rt.storage.transaction() as tx:  # a third share one patient, so one chain
                await audit.record(tx, AuditEntry(action="test/append", object=str(i),
                                                  patient=PATIENT if i % 3 == 0 else pinfl(i)))
                await asyncio.sleep(0.001)  # hold the transaction open a moment

        await asyncio.gather(*(one(i) for i in range(25)))
    report = await verify(s)
    assert report.ok and report.entries == 25 and sum(h.seq for h in report.heads) == 25
    assert next(h.seq for h in report.heads if h.chain == CHAIN) >= 9 and len(report.heads) > 1


def _spread(n: int) -> list[str]:
    """``n`` patients whose entries go to ``n`` different chains."""
    found: dict[int, str] = {}
    for i in range(1, 1000):
        found.setdefault(audit.chain_of({"patient": pinfl(i)}), pinfl(i))
        if len(found) == n:
            return list(found.values())
    raise AssertionError("not enough chains")


@pytest.mark.postgres
async def test_audited_writes_for_different_patients_run_side_by_side(pg_url: str) -> None:
    """20 transactions, each holding its chain for 0.25 s: one lock for all would take 5 s."""
    s = settings(pg_url)
    async with opened(s) as rt:
        async def one(patient: str) -> None:
            async with rt.storage.transaction() as tx:
                await audit.record(tx, AuditEntry(action="medcard.entry/record", patient=patient))
                await asyncio.sleep(0.25)

        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(20):
            await asyncio.gather(*(one(p) for p in _spread(20)))
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed < 2.5, f"the writes waited for each other: {elapsed:.2f} s"
    report = await verify(s)
    assert report.ok and report.entries == 20 and len(report.heads) == 20
    assert {h.seq for h in report.heads} == {1}


@pytest.mark.postgres
async def test_a_transaction_keeps_to_one_chain_so_two_never_deadlock(pg_url: str) -> None:
    """Two transactions auditing the same two patients in opposite order: with a lock per
    patient's chain each would wait for the other; the second entry follows the first instead."""
    s = settings(pg_url)
    a, b = _spread(2)
    async with opened(s) as rt:
        async def both(first: str, second: str) -> list[tuple[int, int]]:
            async with rt.storage.transaction() as tx:
                one = await audit.record(tx, AuditEntry(action="medcard.patient/search", patient=first))
                await asyncio.sleep(0.2)
                return [one, await audit.record(tx, AuditEntry(action="medcard.patient/search",
                                                               patient=second))]

        async with asyncio.timeout(20):
            got = await asyncio.gather(both(a, b), both(b, a))
    assert got == [[(audit.chain_of({"patient": a}), 1), (audit.chain_of({"patient": a}), 2)],
                   [(audit.chain_of({"patient": b}), 1), (audit.chain_of({"patient": b}), 2)]]
    assert (await verify(s)).entries == 4


@pytest.mark.parametrize("statement", [f"UPDATE shifo_audit SET outcome = 'ok' WHERE {AT} = 2",
                                       f"DELETE FROM shifo_audit WHERE {AT} = 2"])
async def test_entries_cannot_be_changed_or_removed(db_url: str, statement: str) -> None:
    s = settings(db_url)
    await append(s, 3)
    async with opened(s) as rt:
        with pytest.raises(DBAPIError, match="append-only"):
            async with rt.storage.transaction() as tx:
                await tx.execute(text(statement))
    assert len(await entries(s)) == 3


async def _tamper(db_url: str, *statements: str, table: str = "shifo_audit", migration: Any = None) -> None:
    """Tamper with the table directly, switching the append-only triggers off to do it (PostgreSQL:
    as the superuser; SQLite: by dropping and re-creating them, as ``migration`` makes them)."""
    if db_url.startswith("sqlite"):
        import sqlite3

        if migration is None:
            from host.migrations.versions import h0003_audit as migration

        conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
        try:
            for statement in [*migration.SQLITE_DOWN, *statements, *migration.SQLITE_UP]:
                conn.execute(statement)
        finally:
            conn.close()
        return
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            for statement in statements:
                await conn.execute(statement)
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    finally:
        await conn.close()


COLUMNS = ", ".join(c.name for c in audit_log.columns)
TAMPERING = {
    "altered": ([f"UPDATE shifo_audit SET outcome = 'denied:403' WHERE {AT} = 3"], 3, "altered"),
    "removed": ([f"DELETE FROM shifo_audit WHERE {AT} = 3"], 3, "removed"),
    # a copy of entry 5 as entry 6, following it (prev_hash = its hash), its hash unchanged
    "appended": ([f"INSERT INTO shifo_audit ({COLUMNS}) SELECT "
                  f"{COLUMNS.replace('seq,', '6,').replace('prev_hash,', 'hash,')} "
                  f"FROM shifo_audit WHERE {AT} = 5"], 6, "altered"),
    # the stealthiest insertion: renumber the later entries to make room, forge a well-formed entry
    "inserted": ([f"UPDATE shifo_audit SET seq = seq + 10 WHERE {AT} >= 3",
                  f"UPDATE shifo_audit SET seq = seq - 9 WHERE {AT} >= 13"], 3, "inserted"),
}


async def _forge(s: Any, chain: int, seq: int, prev: str) -> None:
    """Insert a well-formed entry: right chain, seq, prev_hash and hash (INSERT is not refused)."""
    forged = AuditEntry(action="medcard.entry/read", login="intruder", patient=PATIENT)
    values = {n: getattr(forged, n) for n in audit._FIELDS}
    at = (await entries(s))[0].at
    async with opened(s) as rt, rt.storage.transaction() as tx:
        await tx.execute(audit_log.insert().values(chain=chain, seq=seq, at=at, prev_hash=prev,
                                                   hash=audit.digest(chain, seq, at, values, prev), **values))


@pytest.mark.parametrize("case", sorted(TAMPERING))
async def test_verify_names_the_first_tampered_entry(db_url: str, case: str) -> None:
    s = settings(db_url)
    await append(s, 5)
    await append(s, 3, patient=OTHER)  # another chain, left alone
    assert (await verify(s)).ok
    statements, seq, problem = TAMPERING[case]
    await _tamper(db_url, *statements)
    if case == "inserted":
        await _forge(s, CHAIN, 3, next(r.hash for r in await entries(s) if (r.chain, r.seq) == (CHAIN, 2)))
    report = await verify(s)
    assert report.first_bad is not None and len(report.findings) == 1, case
    bad = report.first_bad
    assert (bad.chain, bad.seq, bad.problem) == (CHAIN, seq, problem), bad
    # the chain's entries before it, the other chain's 3 (the forged entry itself looks fine)
    assert report.entries == 3 + (seq if case == "inserted" else seq - 1)
    other = audit.chain_of({"patient": OTHER})
    assert [(h.chain, h.seq) for h in report.heads if h.chain == other] == [(other, 3)]


async def test_verify_refuses_an_entry_outside_the_chains(db_url: str) -> None:
    s = settings(db_url)
    await append(s, 2)
    await _forge(s, audit.CHAINS, 1, audit.GENESIS)  # a well-formed chain of its own
    report = await verify(s)
    assert [(f.chain, f.seq, f.problem) for f in report.findings] == [(audit.CHAINS, 1, "inserted")]
    assert report.entries == 2


@pytest.mark.postgres
async def test_the_application_role_cannot_update_or_delete(pg_url: str) -> None:
    db_url = pg_url
    s = settings(db_url)
    await append(s, 2)
    role = f"shifo_app_{uuid.uuid4().hex[:8]}"
    dbname = db_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public '
                            f'TO "{role}"')
        await admin.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON shifo_audit FROM "{role}"')
        app_conn = await asyncpg.connect(PG_DSN.rsplit("/", 1)[0] + f"/{dbname}", user=role)
        try:
            for statement in ("UPDATE shifo_audit SET outcome = 'x'", "DELETE FROM shifo_audit",
                              "TRUNCATE shifo_audit"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app_conn.execute(statement)
            assert await app_conn.fetchval("SELECT count(*) FROM shifo_audit") == 2
        finally:
            await app_conn.close()
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):  # even the owner
            await admin.execute("DELETE FROM shifo_audit")
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_shifo_audit_verify_names_the_entry(db_url: str, monkeypatch: Any, capsys: Any) -> None:
    from host import cli

    s = settings(db_url)
    await append(s, 4)
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    assert await asyncio.to_thread(cli.main, ["audit", "verify"]) == 0
    await append(s, 1, patient=OTHER)
    out = capsys.readouterr().out
    assert "intact: 4 entries in 1 chain" in out and f"chain {CHAIN}: head 4 " in out
    assert await asyncio.to_thread(cli.main, ["audit", "verify"]) == 0
    assert "intact: 5 entries in 2 chain(s)" in capsys.readouterr().out
    await _tamper(db_url, f"UPDATE shifo_audit SET login = 'nobody' WHERE {AT} = 2")
    assert await asyncio.to_thread(cli.main, ["audit", "verify"]) == 3
    assert f"chain {CHAIN} BROKEN at entry 2 (altered)" in capsys.readouterr().err
