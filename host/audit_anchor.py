"""Keyed checkpoints of the audit chains' heads, so that ``verify`` detects a cut or rewritten tail.

A hash chain proves its entries follow each other, not that none were removed from its end, nor
that someone with the table owner's rights did not alter an entry and re-hash every later one with
:func:`host.audit.digest`. A checkpoint (:mod:`host.audit_ledger`) records the chains' heads under an
HMAC with the audit key (``SHIFO_AUDIT_KEY``; never in the database, never logged), chained to the
checkpoint before it. :func:`anchor` makes ``verify`` check every checkpoint's MAC and number, then
compare each chain with the newest checkpoint: an anchored entry gone is ``truncated``, one whose hash
changed is ``re-hashed``.

Checkpoints are written by ``shifo audit verify`` (of the heads it just verified),
``shifo audit checkpoint`` and the background :class:`Checkpointer` (every
``audit_checkpoint_seconds``, in one process at a time), which walks only the entries added since
the last checkpoint, in pages, and anchors a chain only if they extend it: a chain found broken is
logged once and never walked or anchored again by that process. A checkpoint that fails its MAC, or
checkpoints that vanished, stop it (logged once). Appends pay nothing; the window is the interval:
entries newer than the last checkpoint can still be cut unnoticed.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import select, tuple_

from host.audit import Finding, Head, Report, audit_log
from host.audit_checkpointer import Checkpointer
from host.audit_key import AuditKey
from host.audit_ledger import TAKE, TURN, LedgerWalk, Tip, append, expected, follow
from ports.storage import Storage

__all__ = ["Checkpointer", "anchor", "checkpoint", "parse_expect"]


async def anchor(storage: Storage, key: AuditKey, report: Report,
                 expect: tuple[int, str | None] | None = None) -> tuple[Report, Tip]:
    """``report`` with the checkpoints' own problems and each chain that breaks the newest
    checkpoint; ``expect``: a checkpoint number (and MAC) recorded outside the database."""
    walk = LedgerWalk(key)
    async with storage.transaction(readonly=True) as tx:
        await follow(tx, walk, keep=expect[0] if expect else None)
        extra = [f for f in (walk.problem, expected(walk, expect) if expect else None) if f is not None]
        broken, anchors = {f.chain for f in report.findings}, walk.tip.heads
        heads = {h.chain: h for h in report.heads}
        wanted = [(a.chain, a.seq) for a in anchors.values() if a.chain not in broken]
        found: dict[tuple[int, int], str] = {}
        if wanted:
            c = audit_log.c
            rows = await tx.execute(select(c.chain, c.seq, c.hash).where(tuple_(c.chain, c.seq).in_(wanted)))
            found = {(r.chain, r.seq): r.hash for r in rows}
    for a in anchors.values():
        if a.chain in broken:
            continue
        if (a.chain, a.seq) not in found:
            last = heads[a.chain].seq if a.chain in heads else 0
            extra.append(Finding(a.chain, last + 1, "truncated", f"entries {last + 1}..{a.seq} were "
                                 f"removed from the end: a checkpoint anchors entry {a.seq}"))
        elif found[(a.chain, a.seq)] != a.hash:
            extra.append(Finding(a.chain, a.seq, "re-hashed", f"entry {a.seq} differs from its checkpoint: "
                                 "the chain was altered and re-hashed up to it"))
    findings = sorted([*report.findings, *extra], key=lambda f: f.chain)
    return msgspec.structs.replace(report, findings=findings), walk.tip


async def checkpoint(storage: Storage, key: AuditKey, tip: Tip, heads: list[Head]) -> Tip | None:
    """Checkpoint ``heads``, verified by the caller against ``tip``; None if ``tip`` is no longer
    the newest checkpoint (nothing written)."""
    async with storage.transaction() as tx:
        if tx.dialect == "postgresql":
            await tx.execute(TAKE, {"key": TURN})
        return await append(tx, key, tip, heads)


def parse_expect(value: str) -> tuple[int, str | None]:
    """``N`` or ``N:MAC`` (as logged at each checkpoint) for ``shifo audit verify --expect``."""
    n, _, mac = value.partition(":")
    if not n.isdigit() or (mac and len(mac) != 64):
        raise ValueError("expected N or N:MAC, as logged at each audit checkpoint")
    return int(n), mac or None

