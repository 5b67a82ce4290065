"""The audit trail: who did what to which patient, append-only and hash-chained.

An entry is written with :func:`record` inside the transaction of the change it records, so the
change and its entry commit together or not at all (modules use ``ctx.audit(tx, ...)``). Entries
form :data:`CHAINS` independent hash chains, so audited requests serialize only when they share a
chain: an entry goes to the chain of its patient (else its actor, login, request id or client),
so one patient's accesses normally stay in one chain; every later entry of the same transaction
follows the first one into its chain, so a transaction holds one chain and two cannot deadlock.
In a chain, entries are numbered 1, 2, 3... without gaps and ``hash = sha256(canonical content,
which includes chain, seq and the previous entry's hash)``. Appends to a chain are serialized
(PostgreSQL: a transaction-scoped advisory lock per chain; SQLite: ``BEGIN IMMEDIATE`` already
admits one writer), so each chain follows commit order. :func:`record_all` appends a unit's
several entries (an examination's) under one lock, with one head read and one insert, each hashed
over the one before it as single appends are, so ``verify`` treats them alike. Triggers refuse
UPDATE and DELETE (migration ``h0003``). :func:`verify` (``shifo audit verify``) walks every chain
and names the first entry altered, inserted or removed in each. A chain proves nothing about its
own tail: :mod:`host.audit_anchor` anchors the heads with keyed, chained checkpoints.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
)

from core.clock import utcnow
from core.principals import Principal
from ports.sql import UtcDateTime
from ports.storage import Storage, Transaction, prepared

metadata = MetaData()
GENESIS = "0" * 64
CHAINS = 32  # fixed: verify checks every entry against it; more chains, less waiting
_LOCK_BASE = 0x5348_4946_4F41_0000  # "SHIFOA" << 16; + chain: that chain's head

audit_log = Table(
    "shifo_audit",
    metadata,
    Column("chain", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(36)),  # account id
    Column("login", String(100)),
    Column("role", String(100)),
    Column("facility", String(64)),
    Column("patient", String(64)),  # the patient's PINFL (or id where no PINFL is at hand)
    Column("action", String(100), nullable=False),  # "medcard.entry/record", "auth/login", ...
    Column("object", String(300)),
    Column("outcome", String(32), nullable=False),  # ok | failed | denied:401 | denied:403 | ...
    Column("request_id", String(64)),
    Column("client", String(64)),
    Column("detail", String(500)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_shifo_audit_patient", audit_log.c.patient, audit_log.c.at)
_FIELDS = ("actor", "login", "role", "facility", "patient", "action", "object", "outcome",
           "request_id", "client", "detail")
_SIZES = {n: t.length or 500 for n in _FIELDS if isinstance(t := audit_log.c[n].type, String)}
# a shared proxy address would funnel all anonymous callers into one chain: request id first
_CHAIN_KEYS = ("patient", "actor", "login", "request_id", "client")
_chain_of_tx: WeakKeyDictionary[Any, int] = WeakKeyDictionary()


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    action: str
    outcome: str = "ok"
    actor: str | None = None
    login: str | None = None
    role: str | None = None
    facility: str | None = None
    patient: str | None = None
    object: str | None = None
    request_id: str | None = None
    client: str | None = None
    detail: str | None = None


class Recorded(AuditEntry, frozen=True, kw_only=True):
    chain: int
    seq: int
    at: datetime


def entry(principal: Principal | None, action: str, **fields: Any) -> AuditEntry:
    """An entry by ``principal`` (or an anonymous caller); ``role`` defaults to its roles at the facility."""
    if principal is not None:
        fields.setdefault("actor", str(principal.id))
        fields.setdefault("login", principal.login)
        facility = fields.get("facility")
        roles = sorted(principal.roles_at(facility)) if facility else []
        fields.setdefault("role", ",".join(roles) or principal.kind.value)
    return AuditEntry(action=action, **fields)


def noted(principal: Principal | None, notes: Sequence[Mapping[str, str | None]],
          **where: Any) -> list[AuditEntry]:
    """Entries by ``principal``, one per note (``action`` and its other fields), all ``where``."""
    return [entry(principal, str(n["action"]), **where, **{k: v for k, v in n.items() if k != "action"})
            for n in notes]


def chain_of(values: Mapping[str, str | None]) -> int:
    """The chain an entry goes to when it is the first of its transaction: stable per patient."""
    key = next((v for n in _CHAIN_KEYS if (v := values.get(n))), "")
    return zlib.crc32(key.encode()) % CHAINS


def _content(chain: int, seq: int, at: datetime, values: dict[str, str | None], prev: str) -> bytes:
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    return msgspec.json.encode([chain, seq, stamp, *(values[n] for n in _FIELDS), prev])


def digest(chain: int, seq: int, at: datetime, values: dict[str, str | None], prev: str) -> str:
    return hashlib.sha256(_content(chain, seq, at, values, prev)).hexdigest()


async def record(tx: Transaction, item: AuditEntry) -> tuple[int, int]:
    """Append ``item`` in ``tx`` (which must be a write transaction); returns its (chain, seq).

    Call it late in the transaction: on PostgreSQL the chain stays locked until commit."""
    return (await record_all(tx, (item,)))[0]


async def record_all(tx: Transaction, items: Sequence[AuditEntry]) -> list[tuple[int, int]]:
    """Append ``items`` in order in ``tx``, as :func:`record` would one after another, under one
    chain lock: one head read and one insert for all of them (an examination's entries). Each is
    an entry of its own, hashed over the one before it, so ``verify`` cannot tell them from
    single appends. Returns their (chain, seq)."""
    if not items:
        return []
    entries = [{n: (None if v is None else str(v)[: _SIZES[n]]) for n in _FIELDS for v in (getattr(item, n),)}
               for item in items]
    chain = _sticky_chain(tx, entries[0])
    if tx.dialect == "postgresql":  # re-entrant; taken again in case a savepoint released it
        await tx.execute(_LOCK, {"key": _LOCK_BASE + chain})
    head = (await tx.execute(_HEAD, {"chain": chain})).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    at, rows = utcnow(), list[dict[str, Any]]()
    for values in entries:
        hashed = digest(chain, seq, at, values, prev)
        rows.append({"chain": chain, "seq": seq, "at": at, "prev_hash": prev, "hash": hashed, **values})
        seq, prev = seq + 1, hashed
    await tx.execute(_INSERT, rows[0] if len(rows) == 1 else rows)  # a list: one executemany
    return [(chain, r["seq"]) for r in rows]


class Trail:
    """The host's :class:`ports.audit.AuditTrail`: what ``ctx.audit`` records through."""

    async def record(self, tx: Transaction, principal: Principal | None, action: str, *,
                     facility: str | None = None, patient: str | None = None, object: str | None = None,
                     outcome: str = "ok", detail: str | None = None, request_id: str | None = None,
                     client: str | None = None) -> None:
        await record(tx, entry(principal, action, facility=facility, patient=patient, object=object,
                               outcome=outcome, detail=detail, request_id=request_id, client=client))

    async def record_all(self, tx: Transaction, principal: Principal | None,
                         notes: Sequence[Mapping[str, str | None]], *, facility: str | None = None,
                         request_id: str | None = None, client: str | None = None) -> None:
        await record_all(tx, noted(principal, notes, facility=facility, request_id=request_id, client=client))


TRAIL = Trail()


class Batch(Trail):
    """A trail that holds what is recorded through it until :meth:`flush` appends it all with
    :func:`record_all`: a unit writing several audited things (a FHIR transaction Bundle) takes
    the chain lock once, at its end."""

    def __init__(self) -> None:
        self.held: list[AuditEntry] = []

    async def record(self, tx: Transaction, principal: Principal | None, action: str, *,
                     facility: str | None = None, patient: str | None = None, object: str | None = None,
                     outcome: str = "ok", detail: str | None = None, request_id: str | None = None,
                     client: str | None = None) -> None:
        self.held.append(entry(principal, action, facility=facility, patient=patient, object=object,
                               outcome=outcome, detail=detail, request_id=request_id, client=client))

    async def record_all(self, tx: Transaction, principal: Principal | None,
                         notes: Sequence[Mapping[str, str | None]], *, facility: str | None = None,
                         request_id: str | None = None, client: str | None = None) -> None:
        self.held += noted(principal, notes, facility=facility, request_id=request_id, client=client)

    async def flush(self, tx: Transaction) -> None:
        held, self.held = self.held, []
        await record_all(tx, held)


# Built once: every audited unit runs these, and a statement built per call costs a fresh cache key.
_LOCK = prepared(select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger))))
_HEAD = prepared(select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.chain == bindparam("chain"))
                 .order_by(audit_log.c.seq.desc()).limit(1))
_INSERT = prepared(audit_log.insert())


def _sticky_chain(tx: Transaction, values: dict[str, str | None]) -> int:
    try:
        return _chain_of_tx.setdefault(tx, chain_of(values))
    except TypeError:  # a transaction object that takes no weak reference: no stickiness
        return chain_of(values)


async def accesses(tx: Transaction, patient: str, *, limit: int = 200) -> list[Recorded]:
    """Who touched this patient's record: the newest entries first."""
    c = audit_log.c
    rows = await tx.execute(select(audit_log).where(c.patient == patient)
                            .order_by(c.at.desc(), c.chain.desc(), c.seq.desc()).limit(limit))
    return [Recorded(chain=r.chain, seq=r.seq, at=r.at, **{n: getattr(r, n) for n in _FIELDS})
            for r in rows]


class Finding(msgspec.Struct, frozen=True):
    chain: int  # -1 (host.audit_ledger.LEDGER): the checkpoints themselves
    seq: int
    problem: str  # altered | inserted | removed | broken; truncated | re-hashed | forged | replaced
    detail: str


class Head(msgspec.Struct, frozen=True):
    chain: int
    seq: int  # the last entry verified
    hash: str


class Report(msgspec.Struct, frozen=True):
    entries: int  # verified, in every chain
    heads: list[Head]  # per chain that has entries, in chain order
    findings: list[Finding]  # the first bad entry of each broken chain, in chain order

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    @property
    def root(self) -> str:
        """One hash over every head: the value to record elsewhere to pin the tails."""
        return hashlib.sha256(msgspec.json.encode([[h.chain, h.seq, h.hash] for h in self.heads])).hexdigest()


class Walk:
    """One chain being verified: the last good entry, its hash and the one before it."""

    def __init__(self, chain: int) -> None:
        self.chain, self.last_seq, self.expected, self.before = chain, 0, GENESIS, GENESIS
        self.bad: Finding | None = None


async def verify(storage: Storage, *, batch: int = 1000) -> Report:
    """Walk every chain in (chain, seq) order; in each, stop at the first entry that breaks it."""
    count, walks, c = 0, list[Walk](), audit_log.c
    page = select(audit_log).order_by(c.chain, c.seq).limit(batch)
    async with storage.transaction(readonly=True) as tx:
        stmt = page
        while True:
            rows = (await tx.execute(stmt)).all()
            for r in rows:
                if not walks or walks[-1].chain != r.chain:
                    walks.append(Walk(r.chain))
                w = walks[-1]
                if w.bad is None:
                    w.bad = check_entry(r, w)
                    if w.bad is None:
                        count, w.last_seq, w.before, w.expected = count + 1, r.seq, w.expected, r.hash
            if len(rows) < batch:
                break
            last = rows[-1]
            stmt = page.where(or_(c.chain > last.chain, and_(c.chain == last.chain, c.seq > last.seq)))
    return Report(count, [Head(w.chain, w.last_seq, w.expected) for w in walks if w.last_seq],
                  [w.bad for w in walks if w.bad])


def check_entry(r: Any, w: Walk) -> Finding | None:
    chain, last_seq = r.chain, w.last_seq
    if not 0 <= chain < CHAINS:
        return Finding(chain, r.seq, "inserted", f"chain {chain} is not one of the {CHAINS} chains")
    if r.seq <= last_seq:
        return Finding(chain, r.seq, "inserted", f"entry {r.seq} precedes the first entry")
    if r.seq > last_seq + 1:
        gap = f"{last_seq + 1}" if r.seq == last_seq + 2 else f"{last_seq + 1}..{r.seq - 1}"
        return Finding(chain, last_seq + 1, "removed", f"entries {gap} are missing before entry {r.seq}")
    values = {n: getattr(r, n) for n in _FIELDS}
    if digest(chain, r.seq, r.at, values, r.prev_hash) != r.hash:
        if last_seq and digest(chain, r.seq - 1, r.at, values, r.prev_hash) == r.hash:
            return Finding(chain, last_seq, "inserted", f"entry {last_seq} was inserted: the entries "
                           "after it were renumbered to make room")
        return Finding(chain, r.seq, "altered",
                       f"entry {r.seq} no longer matches its hash (altered or forged)")
    if r.prev_hash != w.expected:
        if r.prev_hash == w.before and last_seq:
            return Finding(chain, last_seq, "inserted", f"entry {last_seq} was inserted: entry {r.seq} "
                           "follows the entry before it")
        return Finding(chain, r.seq, "broken", f"entry {r.seq} does not follow entry {last_seq}")
    return None
