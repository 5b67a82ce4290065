"""The audit trail: who did what to which patient, append-only and hash-chained.

An entry is written with :func:`record` inside the transaction of the change it records, so the
change and its entry commit together or not at all (modules use ``ctx.audit(tx, ...)``). Entries
are numbered 1, 2, 3... without gaps and each stores ``hash = sha256(canonical content, which
includes its seq and the previous entry's hash)``. Appends are serialized (PostgreSQL: a
transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE`` already admits one writer), so the
chain follows commit order. Triggers refuse UPDATE and DELETE (migration ``h0003``).
:func:`verify` (``shifo audit verify``) walks the chain and names the first entry altered, inserted
or removed. The chain proves nothing about its own tail: record the head it reports elsewhere.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, func, select

from core.clock import utcnow
from core.principals import Principal
from ports.sql import UtcDateTime
from ports.storage import Storage, Transaction

metadata = MetaData()
GENESIS = "0" * 64
_LOCK_KEY = 0x5348_4946_4F41  # "SHIFOA": the chain head

audit_log = Table(
    "shifo_audit",
    metadata,
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
Index("ix_shifo_audit_patient", audit_log.c.patient, audit_log.c.seq)
_FIELDS = ("actor", "login", "role", "facility", "patient", "action", "object", "outcome",
           "request_id", "client", "detail")
_SIZES = {n: t.length or 500 for n in _FIELDS if isinstance(t := audit_log.c[n].type, String)}


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


def _content(seq: int, at: datetime, values: dict[str, str | None], prev: str) -> bytes:
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    return msgspec.json.encode([seq, stamp, *(values[n] for n in _FIELDS), prev])


def digest(seq: int, at: datetime, values: dict[str, str | None], prev: str) -> str:
    return hashlib.sha256(_content(seq, at, values, prev)).hexdigest()


async def record(tx: Transaction, item: AuditEntry) -> int:
    """Append ``item`` in ``tx`` (which must be a write transaction); returns its seq."""
    if tx.dialect == "postgresql":
        await tx.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    head = (await tx.execute(select(audit_log.c.seq, audit_log.c.hash)
                             .order_by(audit_log.c.seq.desc()).limit(1))).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    values = {n: (None if v is None else str(v)[: _SIZES[n]]) for n in _FIELDS
              for v in (getattr(item, n),)}
    at = utcnow()
    await tx.execute(audit_log.insert().values(seq=seq, at=at, prev_hash=prev,
                                               hash=digest(seq, at, values, prev), **values))
    return seq


async def accesses(tx: Transaction, patient: str, *, limit: int = 200) -> list[Recorded]:
    """Who touched this patient's record: the newest entries first."""
    rows = await tx.execute(select(audit_log).where(audit_log.c.patient == patient)
                            .order_by(audit_log.c.seq.desc()).limit(limit))
    return [Recorded(seq=r.seq, at=r.at, **{n: getattr(r, n) for n in _FIELDS}) for r in rows]


class Finding(msgspec.Struct, frozen=True):
    seq: int
    problem: str  # altered | inserted | removed | broken
    detail: str


class Report(msgspec.Struct, frozen=True):
    entries: int
    head_seq: int
    head_hash: str
    first_bad: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad is None


async def verify(storage: Storage, *, batch: int = 1000) -> Report:
    """Walk the whole chain in seq order; stop at the first entry that breaks it."""
    count, last_seq, expected, before = 0, 0, GENESIS, GENESIS
    cursor: int | None = None
    async with storage.transaction(readonly=True) as tx:
        while True:
            stmt = select(audit_log).order_by(audit_log.c.seq).limit(batch)
            if cursor is not None:
                stmt = stmt.where(audit_log.c.seq > cursor)
            rows = (await tx.execute(stmt)).all()
            for r in rows:
                found = _check(r, last_seq, expected, before)
                if found:
                    return Report(count, last_seq, expected, found)
                count, last_seq, before, expected = count + 1, r.seq, expected, r.hash
            if len(rows) < batch:
                return Report(count, last_seq, expected, None)
            cursor = rows[-1].seq


def _check(r: Any, last_seq: int, expected: str, before: str) -> Finding | None:
    if r.seq <= last_seq:
        return Finding(r.seq, "inserted", f"entry {r.seq} precedes the first entry")
    if r.seq > last_seq + 1:
        gap = f"{last_seq + 1}" if r.seq == last_seq + 2 else f"{last_seq + 1}..{r.seq - 1}"
        return Finding(last_seq + 1, "removed", f"entries {gap} are missing before entry {r.seq}")
    values = {n: getattr(r, n) for n in _FIELDS}
    if digest(r.seq, r.at, values, r.prev_hash) != r.hash:
        if last_seq and digest(r.seq - 1, r.at, values, r.prev_hash) == r.hash:
            return Finding(last_seq, "inserted", f"entry {last_seq} was inserted: the entries after it "
                           "were renumbered to make room")
        return Finding(r.seq, "altered", f"entry {r.seq} no longer matches its hash (altered or forged)")
    if r.prev_hash != expected:
        if r.prev_hash == before and last_seq:
            return Finding(last_seq, "inserted", f"entry {last_seq} was inserted: entry {r.seq} "
                           f"follows the entry before it")
        return Finding(r.seq, "broken", f"entry {r.seq} does not follow entry {last_seq}")
    return None
