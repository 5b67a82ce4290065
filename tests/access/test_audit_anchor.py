"""Keyed, chained checkpoints anchor the audit chains: cutting a chain's tail, or altering an entry and
re-hashing the chain with ``host.audit.digest`` (as someone with the table owner's rights could),
passes the chain walk but fails ``shifo audit verify`` (exit 3); so do an unkeyed checkpoint slipped
in to launder a re-hashed head, a forged MAC, and (against the value published outside the database)
removing every checkpoint. The checkpointer walks in pages, once per break, in one process, and backs
off quietly while the database is away."""

from __future__ import annotations

import asyncio
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from core.clock import utcnow
from core.errors import ConfigurationError, Unavailable
from host import audit, audit_anchor, audit_key, audit_ledger, cli
from host.migrations.versions import h0006_audit_checkpoint_chain as chained
from tests.access.test_audit import AT, CHAIN, OTHER, _tamper, append, entries, verify
from tests.access.world import app, settings
from tests.support import opened

KEY = "a-test-audit-key-" + "k" * 32


def _rehash_from(rows: list[Any], seq: int) -> list[str]:
    """UPDATEs that alter the patient's entry ``seq`` (login) and re-hash every later one."""
    chain = sorted((r for r in rows if r.chain == CHAIN), key=lambda r: r.seq)
    prev, out = chain[seq - 2].hash, []
    for r in chain[seq - 1:]:
        values = {n: getattr(r, n) for n in audit._FIELDS}
        if r.seq == seq:
            values["login"] = "nobody"
        new = audit.digest(CHAIN, r.seq, r.at, values, prev)
        login = ", login = 'nobody'" if r.seq == seq else ""
        out.append(f"UPDATE shifo_audit SET prev_hash = '{prev}', hash = '{new}'{login} WHERE {AT} = {r.seq}")
        prev = new
    return out


def _shifo(*argv: str) -> Any:
    return asyncio.to_thread(cli.main, ["audit", *argv])


async def _tamper_checkpoints(db_url: str, *statements: str) -> None:
    """Change the checkpoints behind the triggers' back, as the table's owner could."""
    await _tamper(db_url, *statements, table="shifo_audit_checkpoints", migration=chained)


async def _junk(s: Any, key: audit_key.AuditKey, n: int, heads: str) -> None:
    """INSERT is not refused (the trail must grow): a checkpoint made without the key."""
    async with opened(s) as rt, rt.storage.transaction() as tx:
        await tx.execute(audit_ledger.checkpoints.insert().values(
            key_id=key.id, n=n, at=utcnow(), heads=heads, prev_mac="0" * 64, mac="0" * 64))


async def _tip(s: Any, key: audit_key.AuditKey) -> audit_ledger.Tip:
    walk = audit_ledger.LedgerWalk(key)
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        await audit_ledger.follow(tx, walk, batch=2)  # small pages: the walk crosses them
    assert walk.problem is None, walk.problem
    return walk.tip


def _published(out: str) -> str:
    """The ``N:MAC`` that verify prints for recording outside the database."""
    found = re.search(r"--expect (\d+:[0-9a-f]{64})", out)
    assert found, out
    return found.group(1)


@pytest.fixture
def env(db_url: str, monkeypatch: Any) -> Any:
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    monkeypatch.setenv("SHIFO_AUDIT_KEY", KEY)
    s = settings(db_url).with_(audit_key=KEY)
    key = audit_key.key_of(s)
    assert key is not None and KEY not in repr(key)
    return s, key


@pytest.mark.parametrize("case", ["truncated", "re-hashed"])
async def test_verify_detects_a_cut_tail_and_a_rehashed_chain(db_url: str, env: Any, case: str,
                                                              capsys: Any) -> None:
    s, _ = env
    await append(s, 5)
    await append(s, 3, patient=OTHER)  # another chain, left alone
    assert await _shifo("verify") == 0  # verified, and the heads checkpointed
    capsys.readouterr()
    if case == "truncated":
        await _tamper(db_url, f"DELETE FROM shifo_audit WHERE {AT} >= 4")
    else:
        await _tamper(db_url, *_rehash_from(await entries(s), 3))
    assert (await verify(s)).ok  # the chain alone cannot tell
    assert await _shifo("verify") == 3
    err = capsys.readouterr().err
    seq = 4 if case == "truncated" else 5
    assert f"chain {CHAIN} BROKEN at entry {seq} ({case})" in err, err
    assert "BROKEN (1 finding(s))" in err and KEY not in err
    assert await _shifo("verify") == 3  # a broken chain is never re-anchored by verify


async def test_the_checkpointer_anchors_only_chains_that_extend_their_checkpoint_and_walks_a_break_once(
        db_url: str, env: Any, capsys: Any, caplog: Any) -> None:
    s, key = env
    await append(s, 5)
    async with opened(s) as rt:
        timer = audit_anchor.Checkpointer(rt.storage, key, every=0.05, batch=2)  # pages of 2 entries
        await timer.start()
        for _ in range(100):  # the timer's first round
            if timer.tip is not None and timer.tip.n:
                break
            await asyncio.sleep(0.05)
        await timer.stop()
    tip = await _tip(s, key)
    assert tip.n == 1 and {c: h.seq for c, h in tip.heads.items()} == {CHAIN: 5}
    await append(s, 2)
    await append(s, 1, patient=OTHER)
    await _tamper(db_url, *_rehash_from(await entries(s), 2))
    with caplog.at_level(logging.ERROR, logger="shifo.audit"):
        async with opened(s) as rt:
            timer = audit_anchor.Checkpointer(rt.storage, key, every=0, batch=2)
            assert await timer.round() == 2  # only the intact chain moves on
            await append(s, 1)  # the broken chain grows: not walked again, not logged again
            assert await timer.round() == 0 and timer.broken == {CHAIN: 5}
    assert [r.getMessage() for r in caplog.records if "breaks" in r.getMessage()] == [
        f"audit chain {CHAIN} breaks at entry 5 (re-hashed): it is no longer anchored; run shifo audit verify"]
    tip = await _tip(s, key)
    assert {c: h.seq for c, h in tip.heads.items()} == {CHAIN: 5, audit.chain_of({"patient": OTHER}): 1}
    assert await _shifo("verify") == 3
    assert f"chain {CHAIN} BROKEN at entry 5 (re-hashed)" in capsys.readouterr().err


async def test_a_junk_checkpoint_at_a_rehashed_head_is_not_laundered(db_url: str, env: Any, capsys: Any) -> None:
    """The attack: re-hash the chain, INSERT an unkeyed checkpoint of its new head, and wait for the
    checkpointer to put a keyed one on top. It refuses (running or restarted), and verify tells."""
    s, key = env
    await append(s, 3)
    async with opened(s) as rt:
        running = audit_anchor.Checkpointer(rt.storage, key, every=0)
        assert await running.round() == 1
    await append(s, 2)
    await _tamper(db_url, *_rehash_from(await entries(s), 2))
    head = next(r for r in await entries(s) if r.chain == CHAIN and r.seq == 5)
    await _junk(s, key, 2, f'[[{CHAIN},5,"{head.hash}"]]')
    async with opened(s) as rt:
        running.storage = rt.storage
        assert await running.round() == 0 and running.halted
        restarted = audit_anchor.Checkpointer(rt.storage, key, every=0)
        assert await restarted.round() == 0 and restarted.halted
    assert await _shifo("verify") == 3
    err = capsys.readouterr().err
    assert "audit checkpoints BROKEN at checkpoint 2 (forged)" in err, err
    assert f"chain {CHAIN} BROKEN at entry 3 (re-hashed)" in err, err  # against the last keyed one


async def test_a_forged_mac_and_a_missing_key(db_url: str, monkeypatch: Any, capsys: Any) -> None:
    s = settings(db_url)
    await append(s, 2)
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    monkeypatch.setenv("SHIFO_AUDIT_KEY_FILE", "no/such/audit.key")
    assert await _shifo("checkpoint") == 2  # no key: a configuration error
    assert await _shifo("verify") == 0  # the chain is whole; the tail is not anchored, and it says so
    assert "not anchored" in capsys.readouterr().err
    monkeypatch.setenv("SHIFO_AUDIT_KEY", KEY)
    assert await _shifo("checkpoint") == 0
    key = audit_key.key_of(s.with_(audit_key=KEY))
    assert key is not None
    tip = await _tip(s, key)
    assert tip.n == 1
    # a checkpoint altered in place (triggers off): its MAC no longer covers its heads
    await _tamper_checkpoints(db_url, f"UPDATE shifo_audit_checkpoints SET heads = "
                              f"'[[{CHAIN},1,\"{tip.heads[CHAIN].hash}\"]]' WHERE n = 1")
    capsys.readouterr()
    assert await _shifo("verify") == 3
    assert "audit checkpoints BROKEN at checkpoint 1 (forged)" in capsys.readouterr().err


async def test_removing_every_checkpoint_is_told_by_the_published_value(db_url: str, env: Any,
                                                                        capsys: Any) -> None:
    s, key = env
    await append(s, 4)
    async with opened(s) as rt:
        running = audit_anchor.Checkpointer(rt.storage, key, every=0)
        assert await running.round() == 1
    await append(s, 1)
    assert await _shifo("verify") == 0  # checkpoint 2, printed for recording
    published = _published(capsys.readouterr().out)
    assert published.startswith("2:")
    async with AsyncTestClient(app(s)) as client:
        assert "shifo_audit_checkpoint 2.0" in (await client.get("/metrics")).text

    await _tamper_checkpoints(db_url, "DELETE FROM shifo_audit_checkpoints")
    await _tamper(db_url, *_rehash_from(await entries(s), 2))
    assert await _shifo("verify", "--expect", published) == 3
    err = capsys.readouterr().err
    assert "audit checkpoints BROKEN at checkpoint 1 (removed)" in err and "checkpoint 2 was published" in err
    async with opened(s) as rt:
        running.storage = rt.storage
        assert await running.round() == 0 and running.halted  # it saw checkpoint 2: it went backwards
    async with AsyncTestClient(app(s)) as client:
        assert "shifo_audit_checkpoint 0.0" in (await client.get("/metrics")).text  # the gauge fell

    # without the published value the shorter history is consistent: verify anchors it anew, saying so
    assert await _shifo("verify") == 0
    out, err = capsys.readouterr()
    assert _published(out).startswith("1:") and "there was no checkpoint under this audit key" in err
    assert await _shifo("verify", "--expect", published) == 3  # and the published value still tells
    assert "checkpoint 2 was published" in capsys.readouterr().err
    assert await _shifo("verify", "--expect", "1:" + "f" * 64) == 3
    assert "audit checkpoints BROKEN at checkpoint 1 (replaced)" in capsys.readouterr().err


async def test_one_process_checkpoints_and_an_outage_backs_off_quietly(db_url: str, env: Any,
                                                                      caplog: Any) -> None:
    s, key = env
    await append(s, 2)
    async with opened(s) as rt:
        if db_url.startswith("postgresql"):  # another worker holds the turn: this one skips the round
            async with rt.storage.transaction() as tx:
                await tx.execute(audit_ledger.TAKE, {"key": audit_ledger.TURN})
                assert await audit_anchor.Checkpointer(rt.storage, key, every=0).round() == 0
        assert await audit_anchor.Checkpointer(rt.storage, key, every=0).round() == 1

    class Away:
        dialect, attempts = "sqlite", 0

        def transaction(self, **_: Any) -> Any:
            self.attempts += 1
            raise Unavailable("The database cannot be reached just now; try again shortly.")

    away = Away()
    with caplog.at_level(logging.WARNING, logger="shifo.audit"):
        timer = audit_anchor.Checkpointer(away, key, every=0.01)  # type: ignore[arg-type]
        await timer.start()
        await asyncio.sleep(0.5)
        await timer.stop()
    lines = [r for r in caplog.records if r.name == "shifo.audit"]
    assert len(lines) == 1 and lines[0].exc_info is None and "cannot be reached" in lines[0].getMessage()
    assert 3 <= away.attempts <= 8, away.attempts  # 0.01, 0.02, 0.04 ... s: backing off, not 50 tries


def test_the_demo_key_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit.key"
    assert audit_key.make_key_file(str(path)) and stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert not audit_key.make_key_file(str(path)) and path.read_text() == first  # never replaced
    key = audit_key.key_of(settings("sqlite+aiosqlite://").with_(audit_key_file=str(path)))
    assert key is not None and key.id == audit_key.AuditKey(first.strip().encode()).id
    with pytest.raises(ConfigurationError):
        audit_key.key_of(settings("sqlite+aiosqlite://").with_(audit_key="short"))
