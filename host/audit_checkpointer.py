"""The background checkpointer: every ``audit_checkpoint_seconds``, anchor the audit chains' new heads.

One process at a time does it (PostgreSQL: a transaction-scoped advisory try-lock, so other workers
skip the round; SQLite: one process anyway, and an asyncio lock). A round verifies the checkpoints
written since the last one it saw (the first time: the newest one's MAC), then walks only each
chain's entries after its checkpoint, in pages, and checkpoints the chains they extend. A chain that
breaks is logged once and not walked again by this process; an unkeyed checkpoint, or one seen
before that vanished, stops the checkpointer (logged once): ``shifo audit verify`` tells the rest.
While the database is away it backs off and logs one line, no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import func, select

from adapters.storage import faults
from core.errors import Unavailable
from host.audit import CHAINS, Finding, Head, Walk, audit_log, check_entry
from host.audit_key import AuditKey
from host.audit_ledger import (
    TAKE,
    TRY,
    TURN,
    LedgerWalk,
    Tip,
    append,
    checkpoints,
    follow,
    newest,
    tip_of,
    valid,
)
from ports.storage import Storage, Transaction

log = logging.getLogger("shifo.audit")
# each chain's newest entry: 32 index lookups in one round trip, not a scan of the whole trail
_TOPS = select(*(select(func.max(audit_log.c.seq)).where(audit_log.c.chain == chain).scalar_subquery()
                 for chain in range(CHAINS)))


class Checkpointer:
    """Checkpoints the chains' new heads every ``every`` seconds (0 or no key: never)."""

    def __init__(self, storage: Storage, key: AuditKey | None, every: float, *, batch: int = 1000) -> None:
        self.storage, self.key, self.every, self.batch = storage, key, every, batch
        self.tip: Tip | None = None  # the newest checkpoint verified; None: not read yet
        self.broken: dict[int, int] = {}  # chain -> the entry it breaks at (logged once)
        self.halted = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._pg = getattr(storage, "dialect", "") == "postgresql"

    async def start(self) -> None:
        if self.key is not None and self.every > 0:
            self._task = asyncio.create_task(self._run(), name="shifo-audit-checkpoint")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def round(self, *, wait: bool = False) -> int:
        """One checkpoint; its number, or 0: nothing moved, halted, or (``wait`` False) another
        process holds the turn."""
        if self.key is None:
            return 0
        async with self._lock:
            if not self._pg:  # SQLite: read without blocking writers, then write
                return await self._round(lambda: self.storage.transaction(readonly=True), None)
            async with self.storage.transaction() as tx:
                turn = (await tx.execute(TAKE if wait else TRY, {"key": TURN})).scalar()
                if not wait and not turn:
                    return 0  # another process checkpoints this round

                @contextlib.asynccontextmanager
                async def same() -> AsyncIterator[Transaction]:
                    yield tx
                return await self._round(same, tx)

    async def _round(self, read: Callable[[], AbstractAsyncContextManager[Transaction]],
                     write: Transaction | None) -> int:
        assert self.key is not None
        async with read() as rx:
            tip = await self._follow(rx, self.key)
            heads = [] if tip is None else await self._extended(rx, tip)
        if tip is None or not heads:
            return 0
        if write is None:
            async with self.storage.transaction() as tx:
                new = await append(tx, self.key, tip, heads)
        else:
            new = await append(write, self.key, tip, heads)
        self.tip = new or self.tip
        return new.n if new is not None and new is not tip else 0

    def _halt(self, why: str) -> None:
        self.halted = True
        log.error("audit checkpoints stopped: %s; run shifo audit verify", why)

    async def _follow(self, tx: Transaction, key: AuditKey) -> Tip | None:
        """The newest checkpoint, verified from the last one this process saw (the first time: its MAC)."""
        if self.halted:
            return None
        if self.tip is None:
            row = await newest(tx, key)
            if row is not None and not valid(key, row):
                self._halt(f"the newest checkpoint ({row.n}) does not carry a valid MAC")
                return None
            self.tip = Tip() if row is None else tip_of(row)
        walk = LedgerWalk(key, self.tip)
        if self.tip.n:
            seen = await _mac_of(tx, key, self.tip.n)
            if seen != self.tip.mac:
                self._halt(f"checkpoint {self.tip.n}, seen before, is gone or changed: checkpoints "
                           "were removed")
                return None
        await follow(tx, walk)
        if walk.problem is not None:
            self._halt(walk.problem.detail)
            return None
        self.tip = walk.tip
        return walk.tip

    async def _extended(self, tx: Transaction, tip: Tip) -> list[Head]:
        """The heads of chains whose new entries (read in pages) extend the checkpoint."""
        c, heads = audit_log.c, []
        for chain, top in enumerate((await tx.execute(_TOPS)).one()):
            a = tip.heads.get(chain)
            if top is None or chain in self.broken or (a is not None and a.seq == top):
                continue
            walk, bad = Walk(chain), None
            walk.before = ""  # unknown: an insertion just before the anchor reads as a break
            if a is not None:
                row = (await tx.execute(select(c.hash).where(c.chain == chain, c.seq == a.seq))).first()
                if row is None or row.hash != a.hash:
                    bad = Finding(chain, a.seq, "re-hashed" if row else "truncated", "")
                walk.last_seq, walk.expected = a.seq, a.hash
            while bad is None:
                rows = (await tx.execute(select(audit_log).where(c.chain == chain, c.seq > walk.last_seq)
                                         .order_by(c.seq).limit(self.batch))).all()
                for r in rows:
                    if (bad := check_entry(r, walk)) is not None:
                        break
                    walk.before, walk.last_seq, walk.expected = walk.expected, r.seq, r.hash
                if len(rows) < self.batch:
                    break
            if bad is not None:
                self.broken[chain] = bad.seq
                log.error("audit chain %d breaks at entry %d (%s): it is no longer anchored; run shifo "
                          "audit verify", chain, bad.seq, bad.problem)
            elif walk.last_seq > (a.seq if a else 0):
                heads.append(Head(chain, walk.last_seq, walk.expected))
        return heads

    async def _run(self) -> None:
        delay, down = self.every, False
        while True:
            await asyncio.sleep(delay)
            try:
                await self.round()
                delay, down = self.every, False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(delay * 2, self.every * 16)  # back off while it fails
                if isinstance(exc, Unavailable) or faults.lost(exc):
                    if not down:  # once per outage, no traceback
                        log.warning("audit checkpoint skipped: the database cannot be reached (%s); "
                                    "trying again with back-off", type(exc).__name__)
                    down = True
                else:
                    log.warning("audit checkpoint failed; next try in %.0f s", delay, exc_info=True)


async def _mac_of(tx: Transaction, key: AuditKey, n: int) -> str | None:
    k = checkpoints.c
    row = (await tx.execute(select(k.mac).where(k.key_id == key.id, k.n == n))).first()
    return None if row is None else str(row.mac)
