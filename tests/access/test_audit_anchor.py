"""Keyed checkpoints anchor the audit chains: cutting a chain's tail, or altering an entry and
re-hashing the chain with ``host.audit.digest`` (as someone with the table owner's rights could),
passes the chain walk but fails ``shifo audit verify`` (exit 3)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import pytest

from core.clock import utcnow
from core.errors import ConfigurationError
from host import audit, audit_anchor, audit_key, cli
from tests.access.test_audit import AT, CHAIN, OTHER, _tamper, append, entries, verify
from tests.access.world import settings
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


@pytest.mark.parametrize("case", ["truncated", "re-hashed"])
async def test_verify_detects_a_cut_tail_and_a_rehashed_chain(db_url: str, case: str, monkeypatch: Any,
                                                              capsys: Any) -> None:
    s = settings(db_url)
    await append(s, 5)
    await append(s, 3, patient=OTHER)  # another chain, left alone
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    monkeypatch.setenv("SHIFO_AUDIT_KEY", KEY)
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
    assert "BROKEN in 1 chain(s)" in err and KEY not in err
    assert await _shifo("verify") == 3  # a broken chain is never re-anchored by verify


async def test_the_background_checkpoint_anchors_only_a_chain_that_extends_its_checkpoint(
        db_url: str, monkeypatch: Any, capsys: Any) -> None:
    s = settings(db_url).with_(audit_key=KEY)
    key = audit_key.key_of(s)
    assert key is not None and KEY not in repr(key)
    await append(s, 3)
    async with opened(s) as rt:
        timer = audit_anchor.Checkpointer(rt.storage, key, every=0.05)
        await timer.start()
        for _ in range(100):  # the timer's first round
            if await audit_anchor.latest(rt.storage, key):
                break
            await asyncio.sleep(0.05)
        await timer.stop()
        assert {c: a.seq for c, a in (await audit_anchor.latest(rt.storage, key)).items()} == {CHAIN: 3}
    await append(s, 2)
    await append(s, 1, patient=OTHER)
    await _tamper(db_url, *_rehash_from(await entries(s), 2))
    async with opened(s) as rt:
        assert await audit_anchor.checkpoint(rt.storage, key) == 1  # only the intact chain moves on
        anchors = await audit_anchor.latest(rt.storage, key)
    assert anchors[CHAIN].seq == 3 and anchors[audit.chain_of({"patient": OTHER})].seq == 1
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    monkeypatch.setenv("SHIFO_AUDIT_KEY", KEY)
    assert await _shifo("verify") == 3
    assert f"chain {CHAIN} BROKEN at entry 3 (re-hashed)" in capsys.readouterr().err


async def test_a_forged_checkpoint_and_a_missing_key(db_url: str, monkeypatch: Any, capsys: Any) -> None:
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
    head = next(r.hash for r in await entries(s) if r.seq == 2)
    async with opened(s) as rt, rt.storage.transaction() as tx:  # INSERT is not refused; no key, no MAC
        await tx.execute(audit_anchor.checkpoints.insert().values(
            key_id=key.id, chain=CHAIN, seq=9, hash=head, at=utcnow(), mac="0" * 64))
    capsys.readouterr()
    assert await _shifo("verify") == 3
    assert f"chain {CHAIN} BROKEN at entry 9 (forged)" in capsys.readouterr().err



def test_the_demo_key_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit.key"
    assert audit_key.make_key_file(str(path)) and stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert not audit_key.make_key_file(str(path)) and path.read_text() == first  # never replaced
    key = audit_key.key_of(settings("sqlite+aiosqlite://").with_(audit_key_file=str(path)))
    assert key is not None and key.id == audit_key.AuditKey(first.strip().encode()).id
    with pytest.raises(ConfigurationError):
        audit_key.key_of(settings("sqlite+aiosqlite://").with_(audit_key="short"))
