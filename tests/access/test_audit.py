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
from host.settings import ALL_MODULES
from tests.access.world import app, bearer, facilities, settings, staff, token
from tests.conftest import PG_DSN
from tests.support import PASSWORD, opened


async def entries(s: Any) -> list[Any]:
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        return list((await tx.execute(select(audit_log).order_by(audit_log.c.seq))).all())


async def append(s: Any, n: int, patient: str = "31505850000017") -> None:
    async with opened(s) as rt:
        for i in range(n):
            async with rt.storage.transaction() as tx:
                await audit.record(tx, AuditEntry(action="medcard.entry/read", actor=str(uuid.uuid4()),
                                                  role="doctor", facility="F1", patient=patient,
                                                  object=f"entry-{i}", request_id=f"r{i}", client="10.0.0.1"))


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
    await append(s, 1, patient="other")
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        who = await audit.accesses(tx, "31505850000017")
    assert [e.seq for e in who] == [2, 1] and who[0].role == "doctor" and who[0].client == "10.0.0.1"


async def test_concurrent_appends_keep_one_chain(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        async def one(i: int) -> None:
            async with rt.storage.transaction() as tx:
                await audit.record(tx, AuditEntry(action="test/append", object=str(i)))
                await asyncio.sleep(0.001)  # hold the transaction open a moment

        await asyncio.gather(*(one(i) for i in range(25)))
    report = await verify(s)
    assert report.ok and report.entries == 25 and report.head_seq == 25


@pytest.mark.parametrize("statement", ["UPDATE shifo_audit SET outcome = 'ok' WHERE seq = 2",
                                       "DELETE FROM shifo_audit WHERE seq = 2"])
async def test_entries_cannot_be_changed_or_removed(db_url: str, statement: str) -> None:
    s = settings(db_url)
    await append(s, 3)
    async with opened(s) as rt:
        with pytest.raises(DBAPIError, match="append-only"):
            async with rt.storage.transaction() as tx:
                await tx.execute(text(statement))
    assert len(await entries(s)) == 3


async def _tamper(db_url: str, *statements: str) -> None:
    """Tamper with the table directly, switching the append-only triggers off to do it (PostgreSQL:
    as the superuser; SQLite: by dropping and re-creating them)."""
    if db_url.startswith("sqlite"):
        import sqlite3

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
            await conn.execute("ALTER TABLE shifo_audit DISABLE TRIGGER USER")
            for statement in statements:
                await conn.execute(statement)
            await conn.execute("ALTER TABLE shifo_audit ENABLE TRIGGER USER")
    finally:
        await conn.close()


TAMPERING = {
    "altered": (["UPDATE shifo_audit SET outcome = 'denied:403' WHERE seq = 3"], 3, "altered"),
    "removed": (["DELETE FROM shifo_audit WHERE seq = 3"], 3, "removed"),
    "appended": (["INSERT INTO shifo_audit SELECT 6, at, actor, login, role, facility, patient, action,"
                  " object, 'ok', request_id, client, detail,"
                  " (SELECT hash FROM shifo_audit WHERE seq = 5), hash FROM shifo_audit WHERE seq = 5"],
                 6, "altered"),
    # the stealthiest insertion: renumber the later entries to make room, forge a well-formed entry
    "inserted": (["UPDATE shifo_audit SET seq = seq + 10 WHERE seq >= 3",
                  "UPDATE shifo_audit SET seq = seq - 9 WHERE seq >= 13"], 3, "inserted"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
async def test_verify_names_the_first_tampered_entry(db_url: str, case: str) -> None:
    s = settings(db_url)
    await append(s, 5)
    assert (await verify(s)).ok
    statements, seq, problem = TAMPERING[case]
    await _tamper(db_url, *statements)
    if case == "inserted":
        forged = AuditEntry(action="medcard.entry/read", login="intruder", patient="31505850000017")
        async with opened(s) as rt:  # a well-formed entry with the right seq, prev_hash and hash
            rows = await entries(s)
            prev = next(r.hash for r in rows if r.seq == 2)
            values = {n: getattr(forged, n) for n in audit._FIELDS}
            at = rows[0].at
            async with rt.storage.transaction() as tx:
                await tx.execute(audit_log.insert().values(seq=3, at=at, prev_hash=prev,
                                                           hash=audit.digest(3, at, values, prev), **values))
    report = await verify(s)
    assert report.first_bad is not None, case
    assert (report.first_bad.seq, report.first_bad.problem) == (seq, problem), report.first_bad
    assert report.entries == (seq if case == "inserted" else seq - 1)  # the forged entry itself looks fine


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
    assert "intact: 4 entries" in capsys.readouterr().out
    await _tamper(db_url, "UPDATE shifo_audit SET login = 'nobody' WHERE seq = 2")
    assert await asyncio.to_thread(cli.main, ["audit", "verify"]) == 3
    assert "BROKEN at entry 2 (altered)" in capsys.readouterr().err
