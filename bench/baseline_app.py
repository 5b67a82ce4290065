"""The bare baseline: Litestar + msgspec + asyncpg doing the project's SQL and nothing else.

It serves the same paths as the project (same URLs, same JSON) and runs the same inserts and
selects the project runs for them, written by hand without the project's layers (no SQLAlchemy,
no pluggy, no Casbin, no relay: what the project's event consumers write, it writes in the request's
transaction):

- both: look the bearer token up (the identity adapter's query), check the module is installed at
  the facility, and append an audit entry to its hash chain (per-chain advisory lock, head, insert);
- write: in one transaction, read the patient's PINFL, insert the entry, insert an outbox row
  (into ``bench_outbox``, a copy of the outbox's shape, so the project's relay never sees it), the
  statements the project's consumers of the entry's event run (the hospital's and polyclinic's
  look-ups of an open encounter: the entry reaches the other modules, as the project's does) and
  the audit entry (into ``bench_audit``, a copy of the audit trail's shape);
- read: the patient's row, then the 30 newest current entries (31 fetched, for the cursor), the
  other modules' records on the card (the timeline merges them; the bench patients have none), and
  the audit entry.

The examination and the prescription issue are in ``baseline_clinical.py``. The database comes
from ``BENCH_DSN`` (a plain ``postgresql://`` URL), the dev CA's certificate and CRL (to verify
prescriptions' signatures) from ``BENCH_KEYS_DIR``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, get, post
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException

POOL_SIZE = 10  # the project: SHIFO_POOL_SIZE=10, up to 2 x 10 connections held per worker
VITALS = {"pulse": ("8867-4", "/min"), "temperature": ("8310-5", "Cel"), "spo2": ("59408-5", "%")}

COLUMNS = ("id, entry_id, patient_id, kind, code, data, performed_at, recorded_at, author, role, facility,"
           " encounter_id, version, status, late, reason, clinical_status, flag")
SELECT_PINFL = "SELECT pinfl, birth_date FROM medcard_patients WHERE id = $1"
SELECT_PATIENT = ("SELECT id, pinfl, surname, given_name, patronymic, birth_date, sex, registered_at,"
                  " registered_by, facility, surname_key, given_key FROM medcard_patients WHERE id = $1")
INSERT_ENTRY = (f"INSERT INTO medcard_entries ({COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
INSERT_OUTBOX = ("INSERT INTO bench_outbox (event_id, event_type, patient, facility, payload, created_at)"
                 " VALUES ($1, $2, $3, $4, $5, $6)")
SELECT_ENTRIES = (f"SELECT {COLUMNS} FROM medcard_entries WHERE patient_id = $1 AND status = 'current'"
                  " ORDER BY performed_at DESC, id DESC LIMIT $2")
SELECT_PRINCIPAL = (
    "SELECT accounts.id, accounts.kind, accounts.login, accounts.full_name, accounts.pinfl,"
    " sessions.id AS session_id, grants.facility, grants.role FROM accounts"
    " JOIN sessions ON sessions.account = accounts.id"
    " LEFT OUTER JOIN grants ON grants.account = accounts.id AND grants.revoked_at IS NULL"
    " WHERE sessions.token_hash = $1 AND sessions.audience = $2 AND sessions.revoked_at IS NULL"
    " AND sessions.expires_at > $3 AND accounts.status = $4")
SELECT_MODULE = ("SELECT module FROM facility_modules WHERE facility = $1 AND module = $2"
                 " AND disabled_at IS NULL")
SELECT_RECORDS = ("SELECT id, pinfl, source, kind, record_id, status, summary, occurred_at, updated_at"
                  " FROM medcard_module_records WHERE pinfl = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2")
SELECT_STAYS = ("SELECT id, pinfl, facility, admitted_at AS opened, discharged_at AS closed"
                " FROM hospital_stays"
                " WHERE pinfl = ANY($1::varchar(14)[]) AND admitted_at <= $2"
                " AND (discharged_at IS NULL OR discharged_at >= $3) ORDER BY admitted_at DESC")
SELECT_VISITS = ("SELECT id, pinfl, facility, opened_at AS opened, closed_at AS closed FROM polyclinic_visits"
                 " WHERE pinfl = ANY($1::varchar(14)[]) AND opened_at <= $2"
                 " AND (closed_at IS NULL OR closed_at >= $3) ORDER BY opened_at DESC")
AUDIT_LOCK = "SELECT pg_advisory_xact_lock($1)"
AUDIT_HEAD = "SELECT seq, hash FROM bench_audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1"
AUDIT_INSERT = ("INSERT INTO bench_audit (chain, seq, at, actor, login, role, facility, patient, action,"
                " object, outcome, request_id, client, detail, prev_hash, hash)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)")
CHAINS = 32
AUDIT_LOCK_BASE = 0x4245_4E43_4800_0000  # "BENCH": not the project's lock keys


async def principal(request: Request[Any, Any, Any], conn: asyncpg.Connection,
                    module: str = "medcard") -> Any:
    """The identity adapter's lookup and the guard's module check, by hand."""
    token = request.headers.get("authorization", "")[7:]
    rows = await conn.fetch(SELECT_PRINCIPAL, hashlib.sha256(token.encode()).hexdigest(), "staff",
                            datetime.now(UTC), "active")
    facility = request.headers.get("x-facility", "")
    if not rows or not any(r["facility"] == facility for r in rows):
        raise NotAuthorizedException("no such session")
    if await conn.fetchrow(SELECT_MODULE, facility, module) is None:
        raise PermissionDeniedException("module not installed")
    return rows[0]


async def encounters_open(conn: asyncpg.Connection, pinfl: str, first: datetime, last: datetime, *,
                          stay_from: datetime | None = None) -> None:
    """The project's hospital and polyclinic consumers of card entries and issued prescriptions
    each look up the patient's encounter open at the event's time (a stay for an issue: from that
    day's start), to attach the event to it. The bench opens no visit or stay: on both sides the
    look-ups find none and nothing is attached. Should one be found, this baseline does not attach
    it as the project would: it fails the request (a 500, which the bench counts as an error)
    rather than quietly do less than the project."""
    if (await conn.fetch(SELECT_STAYS, [pinfl], last, stay_from or first)
            or await conn.fetch(SELECT_VISITS, [pinfl], last, first)):
        raise RuntimeError(f"patient {pinfl} has an open encounter: the baseline does not attach to it")


async def audit(conn: asyncpg.Connection, who: Any, facility: str, patient: str, action: str,
                obj: str) -> None:
    """Append to a hash chain as the project does: lock the chain, read its head, insert."""
    chain = zlib.crc32(patient.encode()) % CHAINS
    await conn.execute(AUDIT_LOCK, AUDIT_LOCK_BASE + chain)
    head = await conn.fetchrow(AUDIT_HEAD, chain)
    seq, prev = (head["seq"] + 1, head["hash"]) if head else (1, "0" * 64)
    at = datetime.now(UTC)
    values = [str(who["id"]), who["login"], "doctor", facility, patient, action, obj, "ok", None, None, None]
    digest = hashlib.sha256(msgspec.json.encode([chain, seq, at.isoformat(), *values, prev])).hexdigest()
    await conn.execute(AUDIT_INSERT, chain, seq, at, *values, prev, digest)


async def audit_many(conn: asyncpg.Connection, who: Any, facility: str, patient: str,
                     notes: list[tuple[str, str]]) -> None:
    """Append several entries of one patient's chain as the project's batch does: one lock, one
    head read, one (pipelined) insert, each entry hashed over the one before it."""
    chain = zlib.crc32(patient.encode()) % CHAINS
    await conn.execute(AUDIT_LOCK, AUDIT_LOCK_BASE + chain)
    head = await conn.fetchrow(AUDIT_HEAD, chain)
    seq, prev = (head["seq"], head["hash"]) if head else (0, "0" * 64)
    rows = []
    for action, obj in notes:
        seq, at = seq + 1, datetime.now(UTC)
        values = [str(who["id"]), who["login"], "doctor", facility, patient, action, obj, "ok",
                  None, None, None]
        digest = hashlib.sha256(msgspec.json.encode([chain, seq, at.isoformat(), *values, prev])).hexdigest()
        rows.append((chain, seq, at, *values, prev, digest))
        prev = digest
    await conn.executemany(AUDIT_INSERT, rows)


class EntryIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str
    code: str
    performed_at: datetime
    value: float | None = None
    encounter_id: uuid.UUID | None = None


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID  # the entry (across versions)
    version_id: uuid.UUID  # this version: the row's id
    version: int
    status: str
    patient_id: uuid.UUID
    kind: str
    code: str
    data: dict[str, Any]
    performed_at: datetime
    recorded_at: datetime
    author: uuid.UUID
    role: str
    facility: str
    encounter_id: uuid.UUID | None
    late: bool
    reason: str | None = None


def to_entry(row: Any) -> Entry:
    return Entry(id=row["entry_id"], version_id=row["id"], version=row["version"], status=row["status"],
                 patient_id=row["patient_id"], kind=row["kind"], code=row["code"], data=row["data"],
                 performed_at=row["performed_at"], recorded_at=row["recorded_at"], author=row["author"],
                 role=row["role"], facility=row["facility"], encounter_id=row["encounter_id"],
                 late=row["late"], reason=row["reason"])


class EntryPage(msgspec.Struct, frozen=True):
    items: list[Entry]
    next: str | None


class EntryRecorded(msgspec.Struct, frozen=True, tag="medcard.entry_recorded", tag_field="type"):
    id: uuid.UUID
    version: int
    occurred_at: datetime
    patient: str
    facility: str
    entry_id: uuid.UUID
    kind: str
    author: uuid.UUID
    encounter_id: uuid.UUID | None
    performed_at: datetime
    summary: dict[str, Any]


def uuid7() -> uuid.UUID:
    """Time-ordered ids, as the project uses: they index as well as a sequence."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    return uuid.UUID(int=value | 0b10 << 62 | rand & ((1 << 62) - 1))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb's binary format is a version byte (1) then the JSON text
    await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                              encoder=lambda v: b"\x01" + msgspec.json.encode(v),
                              decoder=lambda b: msgspec.json.decode(b[1:]))


async def open_pool(app: Litestar) -> None:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=POOL_SIZE,
                                               max_size=2 * POOL_SIZE, init=_init_connection)


async def close_pool(app: Litestar) -> None:
    await app.state.pool.close()


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@post("/api/v1/medcard/patients/{patient_id:uuid}/entries")
async def record(request: Request[Any, Any, Any], patient_id: uuid.UUID, data: EntryIn) -> Entry:
    now = datetime.now(UTC)
    loinc, unit = VITALS[data.code]
    stored = {"loinc": loinc, "value": data.value, "unit": unit}
    facility = request.headers.get("x-facility", "")
    row_id = uuid7()
    row = {"id": row_id, "entry_id": row_id, "patient_id": patient_id, "kind": data.kind, "code": data.code,
           "data": stored, "performed_at": data.performed_at, "recorded_at": now, "author": None,
           "role": "doctor", "facility": facility, "encounter_id": data.encounter_id, "version": 1,
           "status": "current", "late": now - data.performed_at > timedelta(hours=24), "reason": None,
           "clinical_status": None, "flag": None}
    async with request.app.state.pool.acquire() as conn:
        who = await principal(request, conn)
    row["author"] = who["id"]
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        patient = await conn.fetchrow(SELECT_PINFL, patient_id)
        if patient is None:
            raise NotFoundException(f"no patient {patient_id}")
        await conn.execute(INSERT_ENTRY, *row.values())
        event = EntryRecorded(id=uuid7(), version=1, occurred_at=now, patient=patient["pinfl"],
                              facility=facility, entry_id=row_id, kind=data.kind, author=who["id"],
                              encounter_id=None, performed_at=data.performed_at,
                              summary={"code": data.code, "status": "current", "version": 1, **stored})
        await conn.execute(INSERT_OUTBOX, event.id, "medcard.entry_recorded", patient["pinfl"], facility,
                           msgspec.json.encode(event), now)
        await encounters_open(conn, patient["pinfl"], now, now)
        await audit(conn, who, facility, patient["pinfl"], "medcard.indicator/record", str(row_id))
    return to_entry(row)


@get("/api/v1/medcard/patients/{patient_id:uuid}/entries")
async def timeline(request: Request[Any, Any, Any], patient_id: uuid.UUID, limit: int = 50) -> EntryPage:
    async with request.app.state.pool.acquire() as conn:
        who = await principal(request, conn)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        patient = await conn.fetchrow(SELECT_PATIENT, patient_id)
        if patient is None:
            raise NotFoundException(f"no patient {patient_id}")
        rows = await conn.fetch(SELECT_ENTRIES, patient_id, limit + 1)
        await conn.fetch(SELECT_RECORDS, patient["pinfl"], limit + 1)  # the timeline merges them (none here)
        await audit(conn, who, request.headers.get("x-facility", ""), patient["pinfl"], "medcard.entry/read",
                    str(patient_id))
    items = [to_entry(r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = items[-1]
        nxt = base64.urlsafe_b64encode(f"{last.performed_at.isoformat()}|{last.version_id}".encode()).decode()
    return EntryPage(items=items, next=nxt)


# the clinical writes (examination, prescription) live beside; imported here, after what they use
from baseline_clinical import examine, issue  # noqa: E402

app = Litestar(route_handlers=[health, record, timeline, examine, issue], on_startup=[open_pool],
               on_shutdown=[close_pool], debug=False)
