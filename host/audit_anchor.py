"""Keyed checkpoints of the audit chains' heads, so that ``verify`` detects a cut or rewritten tail.

A hash chain proves its entries follow each other, not that none were removed from its end, nor
that someone with the table's owner rights did not alter an entry and re-hash every later one with
:func:`host.audit.digest`. A checkpoint records (chain, seq, hash) of a head with an HMAC-SHA256 under
the audit key (``SHIFO_AUDIT_KEY``; never in the database, never logged): without the key nobody
can forge one. :func:`anchor` makes ``verify`` compare each chain with its latest checkpoint: an
entry anchored but gone is ``truncated``, an anchored entry whose hash changed is ``re-hashed``, a
checkpoint whose MAC does not verify is ``forged``.

Checkpoints are written by :func:`checkpoint`: by ``shifo audit verify`` (of the heads it just
verified), ``shifo audit checkpoint``, and every ``audit_checkpoint_seconds`` by the background work
(:class:`Checkpointer`), which first checks that the new entries extend the last checkpoint, so a
rewritten chain is never anchored. Appends pay nothing; the window is the interval: entries newer
than the last checkpoint can still be cut unnoticed. Each key has an id (a hash of it): after a key
change the old checkpoints are ignored and the first new checkpoint starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging

import msgspec
from sqlalchemy import BigInteger, Column, MetaData, SmallInteger, String, Table, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from core.clock import utcnow
from host.audit import GENESIS, Finding, Head, Report, Walk, audit_log, check_entry
from host.audit_key import AuditKey
from ports.sql import UtcDateTime
from ports.storage import Storage

log = logging.getLogger("shifo.audit")
metadata = MetaData()
checkpoints = Table(
    "shifo_audit_checkpoints",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("chain", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("mac", String(64), nullable=False),
)


class Anchor(msgspec.Struct, frozen=True):
    chain: int
    seq: int
    hash: str
    mac: str


async def latest(storage: Storage, key: AuditKey) -> dict[int, Anchor]:
    """Each chain's newest checkpoint made with ``key``."""
    k = checkpoints.c
    newest = (select(k.chain, func.max(k.seq).label("seq")).where(k.key_id == key.id)
              .group_by(k.chain).subquery())
    stmt = select(k.chain, k.seq, k.hash, k.mac).join(
        newest, (k.chain == newest.c.chain) & (k.seq == newest.c.seq)).where(k.key_id == key.id)
    async with storage.transaction(readonly=True) as tx:
        return {r.chain: Anchor(r.chain, r.seq, r.hash, r.mac) for r in await tx.execute(stmt)}


async def anchor(storage: Storage, key: AuditKey, report: Report) -> Report:
    """``report`` with a finding for each chain that breaks its latest checkpoint."""
    anchors, broken = await latest(storage, key), {f.chain for f in report.findings}
    heads = {h.chain: h for h in report.heads}
    wanted = [(a.chain, a.seq) for a in anchors.values() if a.chain not in broken]
    found: dict[tuple[int, int], str] = {}
    if wanted:
        c = audit_log.c
        async with storage.transaction(readonly=True) as tx:
            rows = await tx.execute(select(c.chain, c.seq, c.hash).where(tuple_(c.chain, c.seq).in_(wanted)))
            found = {(r.chain, r.seq): r.hash for r in rows}
    extra = []
    for a in anchors.values():
        if a.chain in broken:
            continue
        if not hmac.compare_digest(a.mac, key.mac(a.chain, a.seq, a.hash)):
            extra.append(Finding(a.chain, a.seq, "forged", f"the checkpoint of entry {a.seq} does not "
                                 "carry a valid MAC under the audit key"))
        elif (a.chain, a.seq) not in found:
            last = heads[a.chain].seq if a.chain in heads else 0
            extra.append(Finding(a.chain, last + 1, "truncated", f"entries {last + 1}..{a.seq} were "
                                 f"removed from the end: a checkpoint anchors entry {a.seq}"))
        elif found[(a.chain, a.seq)] != a.hash:
            extra.append(Finding(a.chain, a.seq, "re-hashed", f"entry {a.seq} differs from its checkpoint: "
                                 "the chain was altered and re-hashed up to it"))
    findings = sorted([*report.findings, *extra], key=lambda f: f.chain)
    return msgspec.structs.replace(report, findings=findings)


async def checkpoint(storage: Storage, key: AuditKey, heads: list[Head] | None = None) -> int:
    """Write checkpoints of ``heads`` (verified by the caller), or else of every chain whose new
    entries extend its last checkpoint; a chain that does not is logged and left unanchored.
    Returns how many checkpoints were written."""
    if heads is None:
        heads = await _extended(storage, await latest(storage, key))
    now, written = utcnow(), 0
    async with storage.transaction() as tx:
        ins = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
        for h in heads:
            result = await tx.execute(ins(checkpoints).values(
                key_id=key.id, chain=h.chain, seq=h.seq, hash=h.hash, at=now,
                mac=key.mac(h.chain, h.seq, h.hash)).on_conflict_do_nothing())
            written += max(result.rowcount or 0, 0)
    return written


async def _extended(storage: Storage, anchors: dict[int, Anchor]) -> list[Head]:
    """The heads of chains that moved since their checkpoint, walking only the new entries."""
    c, heads = audit_log.c, []
    async with storage.transaction(readonly=True) as tx:
        tops = dict((await tx.execute(select(c.chain, func.max(c.seq)).group_by(c.chain))).all())
        for chain, top in sorted(tops.items()):
            a = anchors.get(chain)
            if a is not None and a.seq >= top:
                continue
            walk = Walk(chain)
            walk.before = ""  # unknown: an insertion just before the anchor reads as a break
            if a is not None:
                row = (await tx.execute(select(c.hash).where(c.chain == chain, c.seq == a.seq))).first()
                if row is None or row.hash != a.hash:
                    log.error("audit chain %d no longer matches its checkpoint at entry %d: not anchored; "
                              "run shifo audit verify", chain, a.seq)
                    continue
                walk.last_seq, walk.expected = a.seq, a.hash
            else:
                walk.expected = GENESIS
            rows = await tx.execute(select(audit_log).where(c.chain == chain, c.seq > walk.last_seq)
                                    .order_by(c.seq))
            for r in rows:
                if (bad := check_entry(r, walk)) is not None:
                    log.error("audit chain %d breaks at entry %d (%s): not anchored", chain, bad.seq,
                              bad.problem)
                    break
                walk.before, walk.last_seq, walk.expected = walk.expected, r.seq, r.hash
            else:
                heads.append(Head(chain, walk.last_seq, walk.expected))
    return heads


class Checkpointer:
    """The background timer: a checkpoint every ``audit_checkpoint_seconds`` (0 or no key: none)."""

    def __init__(self, storage: Storage, key: AuditKey | None, every: float) -> None:
        self.storage, self.key, self.every = storage, key, every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.key is not None and self.every > 0:
            self._task = asyncio.create_task(self._run(self.key), name="shifo-audit-checkpoint")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, key: AuditKey) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await checkpoint(self.storage, key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("audit checkpoint failed; trying again at the next interval", exc_info=True)
