"""The bare baseline's clinical writes: an examination in one request, and a prescription drafted,
signed and issued in one request. Same URLs, JSON and statements as the project (listed from its
PostgreSQL statement log), written by hand with asyncpg:

- examination (``POST .../patients/{id}/examinations``, a diagnosis and three vital signs): one
  transaction, batched as the project's examinations are: the patient read once, the entries in one
  statement, their outbox rows in another, what the project's consumers of their events write
  (erecipe's projection of the card's diagnoses: the rows read, the new one inserted; the hospital's
  and polyclinic's look-ups of an open encounter), their audit entries under one chain lock with one
  head read and one insert;
- prescription (``POST /api/v1/erecipe/prescriptions/``, a signed order): the order's checks, the
  detached CMS signature verified with the same library call as the project's signature adapter
  (``adapters.signature.cms.inspect`` on the dev CA and its CRL, validated paths cached as the
  project's default does) before the transaction, then in one transaction: the id/number taken?,
  each line's current products in the medicines register (INN, form and strength: the same query
  as the project's, GTINs joined; none, or none prescribable today, is a 422), the patient by PINFL,
  the card's diagnoses, the prescription, its lines, its history step, the
  outbox row, what the project's consumers of ``erecipe.issued`` write (the card's module record:
  read, inserted; the hospital's and polyclinic's look-ups of an open encounter) and the audit entry.

The project writes what its consumers write in its relay's transaction, after the commit; a bare
system with the same function writes it in the request's transaction, as this one does.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

import msgspec
from baseline_app import (
    INSERT_ENTRY,
    INSERT_OUTBOX,
    SELECT_PINFL,
    Entry,
    audit,
    audit_many,
    encounters_open,
    principal,
    to_entry,
    uuid7,
)
from litestar import Request, post
from litestar.exceptions import ClientException, NotFoundException

from adapters.signature.cms import inspect
from adapters.signature.path_cache import PathCache
from adapters.signature.trust import TrustStore
from core.canonical import canonical_json

VITALS = {"pulse": ("8867-4", "/min"), "temperature": ("8310-5", "Cel"), "spo2": ("59408-5", "%")}
BP = ("85354-9", {"systolic": ("8480-6", "mm[Hg]"), "diastolic": ("8462-4", "mm[Hg]")})
ICD10 = {"J06.9": "Acute upper respiratory infection, unspecified", "I10": "Essential (primary) hypertension"}
FRESH = dt.timedelta(minutes=10)
SELECT_TAKEN = "SELECT id FROM erecipe_prescriptions WHERE id = $1 OR number = $2"
SELECT_PATIENT = ("SELECT id, pinfl, surname, given_name, patronymic, birth_date, sex FROM medcard_patients"
                  " WHERE pinfl = $1")
SELECT_CARD = "SELECT status, verification FROM erecipe_card_diagnoses WHERE pinfl = $1 AND code = $2"
INSERT_RX = ("INSERT INTO erecipe_prescriptions (id, number, status, patient_pinfl, category, diagnosis,"
             " facility, prescriber_id, prescriber_role, partial, content, canonical, signature,"
             " verification, created_at, issued_at, valid_until)"
             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)")
_MEDICINE_COLUMNS = ("id, registration_number, version, trade_name, inn, atc, form, strength_value,"
                     " strength_unit, pack_size, manufacturer, valid_from, valid_to, prescription_only,"
                     " narcotic, psychotropic, precursor, fingerprint, imported_at, superseded_at")
SELECT_MEDICINES = (f"SELECT m.*, g.gtin FROM (SELECT {_MEDICINE_COLUMNS} FROM erecipe_medicines"
                    " WHERE lower(inn) = $1 AND superseded_at IS NULL AND lower(form) = $2"
                    " AND strength_value = $3 AND strength_unit = $4 ORDER BY inn, trade_name, id"
                    " LIMIT 200) AS m LEFT JOIN erecipe_medicine_gtins g ON g.medicine_id = m.id"
                    " ORDER BY m.inn, m.trade_name, m.id, g.gtin")
INSERT_LINE = ("INSERT INTO erecipe_lines (prescription_id, line, inn, quantity, remaining)"
               " VALUES ($1, $2, $3, $4, $5)")
INSERT_HISTORY = ("INSERT INTO erecipe_history (id, prescription_id, at, status, by, reason, detail)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7)")
# What the project's event consumers write for these events (its relay's statements, listed from the
# same log), run here inline in the request's transaction: the same data reaches the other modules
# (the encounter look-ups every entry and issue goes through: baseline_app.encounters_open).
SELECT_DIAGNOSES = ("SELECT entry_id, pinfl, code, code_version, verification, status, entry_version,"
                    " updated_at FROM erecipe_card_diagnoses WHERE entry_id = ANY($1::uuid[])")
INSERT_DIAGNOSIS = ("INSERT INTO erecipe_card_diagnoses (entry_id, pinfl, code, code_version, verification,"
                    " status, entry_version, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
SELECT_RECORD = ("SELECT id, pinfl, source, kind, record_id, status, summary, occurred_at, updated_at"
                 " FROM medcard_module_records WHERE source = ANY($1::varchar(32)[])"
                 " AND record_id = ANY($2::uuid[])")
INSERT_RECORD = ("INSERT INTO medcard_module_records (id, pinfl, source, kind, record_id, status, summary,"
                 " occurred_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")


class EntryIn(msgspec.Struct, frozen=True, tag_field="kind", tag="indicator"):
    code: str
    performed_at: dt.datetime
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    encounter_id: uuid.UUID | None = None


class DiagnosisIn(msgspec.Struct, frozen=True, tag_field="kind", tag="diagnosis"):
    code: str
    rank: str
    verification: str
    performed_at: dt.datetime
    note: str | None = None
    encounter_id: uuid.UUID | None = None


class ExaminationIn(msgspec.Struct, frozen=True):
    entries: list[EntryIn | DiagnosisIn]


class Examination(msgspec.Struct, frozen=True):
    entries: list[Entry]


def _stored(data: EntryIn | DiagnosisIn) -> dict[str, Any]:
    if isinstance(data, DiagnosisIn):
        return {"icd10": data.code, "display": ICD10[data.code], "rank": data.rank,
                "verification": data.verification, "note": data.note}
    if data.code == "blood_pressure":
        parts = {k: {"loinc": loinc, "value": getattr(data, k), "unit": unit}
                 for k, (loinc, unit) in BP[1].items()}
        return {"loinc": BP[0], "components": parts}
    loinc, unit = VITALS[data.code]
    return {"loinc": loinc, "value": data.value, "unit": unit}


@post("/api/v1/medcard/patients/{patient_id:uuid}/examinations")
async def examine(request: Request[Any, Any, Any], patient_id: uuid.UUID, data: ExaminationIn) -> Examination:
    facility = request.headers.get("x-facility", "")
    async with request.app.state.pool.acquire() as conn:
        who = await principal(request, conn)
    recorded, rows, events, notes = [], [], [], []
    diagnoses: list[tuple[Any, ...]] = []
    times: list[dt.datetime] = []
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        patient = await conn.fetchrow(SELECT_PINFL, patient_id)  # once, as the project does
        if patient is None:
            raise NotFoundException(f"no patient {patient_id}")
        for item in data.entries:
            now, row_id, stored = dt.datetime.now(dt.UTC), uuid7(), _stored(item)
            kind = "diagnosis" if isinstance(item, DiagnosisIn) else "indicator"
            row = {"id": row_id, "entry_id": row_id, "patient_id": patient_id, "kind": kind,
                   "code": item.code, "data": stored, "performed_at": item.performed_at,
                   "recorded_at": now, "author": who["id"], "role": "doctor", "facility": facility,
                   "encounter_id": item.encounter_id, "version": 1, "status": "current",
                   "late": now - item.performed_at > dt.timedelta(hours=24), "reason": None,
                   "clinical_status": item.verification if isinstance(item, DiagnosisIn) else None,
                   "flag": None}
            rows.append(tuple(row.values()))
            event = {"type": "medcard.entry_recorded", "id": str(uuid7()), "version": 1,
                     "occurred_at": now.isoformat(), "patient": patient["pinfl"], "facility": facility,
                     "entry_id": str(row_id), "kind": kind, "author": str(who["id"]), "encounter_id": None,
                     "performed_at": item.performed_at.isoformat(),
                     "summary": {"code": item.code, "status": "current", "version": 1, **stored}}
            events.append((uuid.UUID(event["id"]), "medcard.entry_recorded", patient["pinfl"], facility,
                           msgspec.json.encode(event), now))
            notes.append((f"medcard.{kind}/record", str(row_id)))
            times.append(now)
            if isinstance(item, DiagnosisIn):
                diagnoses.append((row_id, patient["pinfl"], item.code, 1, item.verification, "current", 1,
                                  now))
            recorded.append(to_entry(row))
        await conn.executemany(INSERT_ENTRY, rows)  # the entries in one statement, as the project
        await conn.executemany(INSERT_OUTBOX, events)  # their events in another
        await examined_reach_modules(conn, patient["pinfl"], diagnoses, times)
        await audit_many(conn, who, facility, patient["pinfl"], notes)  # one lock, head read, insert
    return Examination(entries=recorded)


async def examined_reach_modules(conn: Any, pinfl: str, diagnoses: list[tuple[Any, ...]],
                                 times: list[dt.datetime]) -> None:
    """What the project's consumers of the entries' events write: erecipe's projection of the card's
    diagnoses (the rows read, the new ones inserted), then the hospital's and the polyclinic's
    look-ups of an encounter open when the entries were made. The bench opens no visit or stay, so
    on both sides the look-ups find none and nothing is attached."""
    if diagnoses:
        found = {r["entry_id"] for r in await conn.fetch(SELECT_DIAGNOSES, [d[0] for d in diagnoses])}
        new = [d for d in diagnoses if d[0] not in found]
        if len(new) == 1:
            await conn.execute(INSERT_DIAGNOSIS, *new[0])
        elif new:
            await conn.executemany(INSERT_DIAGNOSIS, new)
    await encounters_open(conn, pinfl, min(times), max(times))


async def issued_reach_modules(conn: Any, event: dict[str, Any], rx: uuid.UUID, now: dt.datetime) -> None:
    """What the project's consumers of ``erecipe.issued`` write: the card's module record of the
    prescription (read, inserted as new), then the hospital's look-up of a stay open that day and
    the polyclinic's of a visit open then (none in the bench: nothing attached, on both sides)."""
    pinfl = event["patient"]
    if not await conn.fetch(SELECT_RECORD, ["erecipe"], [rx]):
        summary = {k: event[k] for k in ("lines", "number", "category", "diagnosis", "prescriber",
                                         "valid_until", "facility")}
        await conn.execute(INSERT_RECORD, uuid7(), pinfl, "erecipe", "prescription", rx, "issued",
                           {**summary, "issued_at": event["occurred_at"]}, now, now)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    await encounters_open(conn, pinfl, now, now, stay_from=day)


class OrderLine(msgspec.Struct, frozen=True):
    line: int
    inn: str
    form: str
    strength: str
    dose: str
    frequency: str
    route: str
    duration_days: int
    quantity: int


class Order(msgspec.Struct, frozen=True):
    action: str
    id: str
    drafted_at: str
    facility: str
    patient_pinfl: str
    diagnosis: str
    category: str
    valid_days: int
    lines: list[OrderLine]


class SignedOrderIn(msgspec.Struct, frozen=True):
    order: Order
    signature: str
    content: str | None = None


def _trust() -> TrustStore:
    keys = Path(os.environ["BENCH_KEYS_DIR"])
    return TrustStore.from_bytes([(keys / "ca.pem").read_bytes()], [(keys / "ca.crl").read_bytes()])


_TRUST: list[TrustStore] = []
PATHS = PathCache()  # the project's default (signature_path_cache on)


async def verified(content: bytes, signature: bytes, pinfl: str, now: dt.datetime) -> dict[str, Any]:
    if not _TRUST:
        _TRUST.append(_trust())
    report = await inspect(content, signature, detached=True, trust=_TRUST[0], paths=PATHS)
    verdict = report.verification
    if not verdict.valid or verdict.signer_pinfl != pinfl:
        raise ClientException(f"the signature was refused: {verdict.reason}", status_code=422)
    if verdict.signing_time is None or abs(now - verdict.signing_time) > FRESH:
        raise ClientException("the signing time is not within ten minutes of now", status_code=422)
    return {**msgspec.to_builtins(verdict), "verified_at": now.isoformat()}


def _checked(order: Order, facility: str, now: dt.datetime) -> tuple[bytes, dt.datetime]:
    drafted = dt.datetime.fromisoformat(order.drafted_at)
    if (order.facility != facility or order.category != "standard" or order.valid_days > 30
            or order.diagnosis not in ICD10 or abs(now - drafted) > FRESH
            or [ln.line for ln in order.lines] != list(range(1, len(order.lines) + 1))):
        raise ClientException("the order does not pass the checks", status_code=422)
    return canonical_json(order), drafted


async def registered(conn: Any, order: Order, today: dt.date) -> list[dict[str, Any]]:
    """Each line as the register spells it (the project's ``prescription_lines.resolve`` for INN
    lines): its first current product prescribable today; a controlled one needs that category."""
    out = []
    for ln in order.lines:
        value, _, unit = ln.strength.partition(" ")
        rows = await conn.fetch(SELECT_MEDICINES, ln.inn.strip().lower(), ln.form.strip().lower(),
                                value, unit)
        live = [r for r in rows
                if r["valid_from"] <= today and (r["valid_to"] is None or today < r["valid_to"])]
        if not live or any(r["narcotic"] or r["psychotropic"] for r in live):
            raise ClientException(f"line {ln.line} is not prescribable as ordered", status_code=422)
        first = live[0]
        out.append({**msgspec.to_builtins(ln), "medicine": None, "inn": first["inn"], "atc": first["atc"],
                    "form": first["form"], "strength": f"{first['strength_value']} {first['strength_unit']}"})
    return out


@post("/api/v1/erecipe/prescriptions/")
async def issue(request: Request[Any, Any, Any], data: SignedOrderIn) -> dict[str, Any]:
    facility, order = request.headers.get("x-facility", ""), data.order
    async with request.app.state.pool.acquire() as conn:
        who = await principal(request, conn, "erecipe")
    now = dt.datetime.now(dt.UTC)
    canonical, drafted = _checked(order, facility, now)
    signature = base64.b64decode(data.signature, validate=True)
    verification = await verified(canonical, signature, who["pinfl"], now)
    rx, valid_until = uuid.UUID(order.id), drafted + dt.timedelta(days=order.valid_days)
    number = f"{drafted:%y%m%d}-{rx.hex[-10:].upper()}"
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        if await conn.fetchrow(SELECT_TAKEN, rx, number) is not None:
            raise ClientException("this signed order was already used", status_code=409)
        lines = await registered(conn, order, now.date())
        patient = await conn.fetchrow(SELECT_PATIENT, order.patient_pinfl)
        if patient is None:
            raise ClientException("no patient with this PINFL on the medical card", status_code=422)
        on_card = await conn.fetchrow(SELECT_CARD, order.patient_pinfl, order.diagnosis)
        content = {**msgspec.to_builtins(order), "number": number, "qr": "SHIFO-RX:1:" + number,
                   "patient_name": f"{patient['surname']} {patient['given_name']}",
                   "dispensing": {"partial": True, "repeats": 1},
                   "prescriber": {"id": str(who["id"]), "pinfl": who["pinfl"], "name": who["full_name"],
                                  "role": "doctor"}, "valid_until": valid_until.isoformat()}
        await conn.execute(INSERT_RX, rx, number, "issued", order.patient_pinfl, order.category,
                           order.diagnosis, facility, who["id"], "doctor", 1, content, canonical,
                           signature, verification, now, now, valid_until)
        for ln in lines:
            await conn.execute(INSERT_LINE, rx, ln["line"], ln["inn"], ln["quantity"], ln["quantity"])
        detail = {"signer_pinfl": verification["signer_pinfl"],
                  "certificate_serial": verification["certificate_serial"]}
        await conn.execute(INSERT_HISTORY, uuid7(), rx, now, "issued", who["id"], None, detail)
        event = {"type": "erecipe.issued", "id": str(uuid7()), "version": 1, "occurred_at": now.isoformat(),
                 "patient": order.patient_pinfl, "facility": facility, "prescription_id": str(rx),
                 "number": number, "category": order.category, "diagnosis": order.diagnosis,
                 "prescriber": str(who["id"]), "valid_until": valid_until.isoformat(),
                 "lines": [{k: v for k, v in ln.items()} for ln in lines]}
        await conn.execute(INSERT_OUTBOX, uuid.UUID(event["id"]), "erecipe.issued", order.patient_pinfl,
                           facility, msgspec.json.encode(event), now)
        await issued_reach_modules(conn, event, rx, now)
        await audit(conn, who, facility, order.patient_pinfl, "erecipe.prescription/issue", str(rx))
    return {"id": str(rx), "number": number, "qr": content["qr"], "status": "issued",
            "patient_pinfl": order.patient_pinfl, "category": order.category, "diagnosis": order.diagnosis,
            "facility": facility, "prescriber_id": str(who["id"]), "valid_until": valid_until,
            "issued_at": now,
            "content": content, "verification": verification, "cancel_reason": None,
            "lines": [{**ln, "remaining": ln["quantity"]} for ln in lines],
            "history": [{"at": now, "status": "issued", "by": str(who["id"]), "reason": None,
                         "detail": detail}],
            "diagnosis_on_card": "absent" if on_card is None else on_card["status"]}
