"""The chain of keyed audit checkpoints: written by :mod:`host.audit_anchor`, read by ``verify``.

Checkpoint ``n`` records the newest verified head ``[chain, seq, hash]`` of every anchored audit
chain, and ``mac = HMAC(audit key, n, the previous checkpoint's mac, heads)``. Each MAC covers the one
before it, so the checkpoints form a chain of their own: one inserted without the key fails its MAC,
one removed from the middle leaves a gap in ``n``, one altered fails its own MAC or the next one's.
Removing the newest checkpoints (or all of them) leaves a shorter chain that is still valid: only a
value kept outside the database tells. So each checkpoint is logged with its number and MAC,
``/metrics`` shows the number (``shifo_audit_checkpoint``, which only ever grows under one key), and
``shifo audit verify --expect N:MAC`` checks a recorded pair. Rows of another key are ignored.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, bindparam, func, select

from core.clock import utcnow
from host.audit import Finding, Head
from host.audit_key import AuditKey
from ports.sql import UtcDateTime
from ports.storage import Storage, Transaction

log = logging.getLogger("shifo.audit")
TURN = 0x5348_4946_4F43_4B50  # "SHIFOCKP": the checkpoint writers' advisory lock (PostgreSQL)
TAKE = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))
TRY = select(func.pg_try_advisory_xact_lock(bindparam("key", type_=BigInteger)))
LEDGER = -1  # the Finding.chain of a problem in the checkpoints themselves
metadata = MetaData()
checkpoints = Table(
    "shifo_audit_checkpoints",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("n", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("heads", Text, nullable=False),  # JSON [[chain, seq, hash], ...] in chain order
    Column("prev_mac", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)


class Tip(msgspec.Struct, frozen=True):
    """The newest checkpoint verified: its number (0: none yet), MAC and anchored heads."""

    n: int = 0
    mac: str = ""
    heads: dict[int, Head] = {}


def valid(key: AuditKey, row: Any) -> bool:
    return hmac.compare_digest(row.mac, key.mac(row.n, row.prev_mac, row.heads))


def tip_of(row: Any) -> Tip:
    heads = msgspec.json.decode(row.heads, type=list[tuple[int, int, str]])
    return Tip(row.n, row.mac, {c: Head(c, s, h) for c, s, h in heads})


class LedgerWalk:
    """Checkpoints taken in order of ``n``; stops at the first that does not follow ``tip``."""

    def __init__(self, key: AuditKey, tip: Tip | None = None) -> None:
        self.key, self.tip = key, tip or Tip()
        self.problem: Finding | None = None
        self.macs: dict[int, str] = {}  # of the numbers asked for with ``keep``

    def take(self, row: Any, keep: int | None = None) -> bool:
        n = self.tip.n + 1
        if row.n != n:
            self.problem = Finding(LEDGER, n, "removed", f"checkpoints {n}..{row.n - 1} are missing")
        elif row.prev_mac != self.tip.mac or not valid(self.key, row):
            self.problem = Finding(LEDGER, n, "forged", f"checkpoint {n} does not carry a valid MAC under "
                                   "the audit key, or does not follow the checkpoint before it")
        else:
            self.tip = tip_of(row)
            if row.n == keep:
                self.macs[row.n] = row.mac
            return True
        return False


def _of(key: AuditKey) -> Any:
    return select(checkpoints).where(checkpoints.c.key_id == key.id)


async def newest(tx: Transaction, key: AuditKey) -> Any:
    return (await tx.execute(_of(key).order_by(checkpoints.c.n.desc()).limit(1))).first()


async def number(storage: Storage, key: AuditKey) -> int:
    """The newest checkpoint's number (0: none): the value ``/metrics`` publishes."""
    async with storage.transaction(readonly=True) as tx:
        k = checkpoints.c
        return int((await tx.execute(select(func.max(k.n)).where(k.key_id == key.id))).scalar() or 0)


async def follow(tx: Transaction, walk: LedgerWalk, *, keep: int | None = None, batch: int = 500) -> None:
    """Take every checkpoint after ``walk.tip``, in pages, until the end or a problem."""
    while walk.problem is None:
        rows = (await tx.execute(_of(walk.key).where(checkpoints.c.n > walk.tip.n)
                                 .order_by(checkpoints.c.n).limit(batch))).all()
        if not all(walk.take(r, keep) for r in rows) or len(rows) < batch:
            return


def expected(walk: LedgerWalk, expect: tuple[int, str | None]) -> Finding | None:
    """Compare the walked checkpoints with a number (and MAC) recorded outside the database."""
    n, mac = expect
    if walk.tip.n < n and walk.problem is None:
        return Finding(LEDGER, walk.tip.n + 1, "removed", f"checkpoint {n} was published, the newest "
                       f"here is {walk.tip.n}: checkpoints {walk.tip.n + 1}..{n} were removed")
    if mac is not None and n in walk.macs and not hmac.compare_digest(walk.macs[n], mac):
        return Finding(LEDGER, n, "replaced", f"checkpoint {n} differs from the one published: the "
                       "checkpoints were removed and written again")
    return None


async def append(tx: Transaction, key: AuditKey, tip: Tip, heads: list[Head]) -> Tip | None:
    """Write checkpoint ``tip.n + 1`` with ``heads`` (verified, extending ``tip``'s) merged over
    ``tip``'s, if ``tip`` is still the newest; ``tip`` itself if nothing moved; else None."""
    merged = {**tip.heads, **{h.chain: h for h in heads}}
    if merged == tip.heads:
        return tip
    current = await newest(tx, key)
    now_at = (current.n, current.mac) if current is not None else (0, "")
    if now_at != (tip.n, tip.mac):
        return None  # another writer went first (or checkpoints vanished): decided in the next round
    n, text = tip.n + 1, msgspec.json.encode([[h.chain, h.seq, h.hash] for _, h in sorted(merged.items())])
    mac = key.mac(n, tip.mac, text.decode())
    await tx.execute(checkpoints.insert().values(key_id=key.id, n=n, at=utcnow(), heads=text.decode(),
                                                 prev_mac=tip.mac, mac=mac))
    log.info("audit checkpoint %d written (%d chain heads): mac %s; record it outside the database and "
             "check it with: shifo audit verify --expect %d:%s", n, len(merged), mac, n, mac)
    return Tip(n, mac, merged)
