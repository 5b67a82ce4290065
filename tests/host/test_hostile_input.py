"""Hostile request bodies: every answer is a 4xx problem detail and nothing is written.

The corpus goes to two real routes: the public sign-in, and a small ``probe`` module's route that
needs a doctor's permission and takes a struct with a PINFL (digits) field. Many hostile bodies
carry valid credentials or a valid entry, so a lenient server would sign in or write.

Then the other inputs outside probes answered 500 to: a NUL (or text that is not UTF-8) in a query
or path parameter, ids and page cursors out of the database's integer range, a number the database
cannot hold reaching it anyway, and every ``OPTIONS`` pre-flight.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import get, post
from sqlalchemy import BigInteger, func, literal, select

from adapters.identity.tables import sessions
from adapters.storage.tables import outbox
from core.clock import utcnow
from core.events import EntryRecorded
from core.ids import new_id
from core.types import Pinfl
from host.pluginapi import Action, Ctx, ModuleInfo, PolicyRule, hookimpl, requires
from host.settings import Settings
from host.web.jsoncheck import MAX_DEPTH, MalformedBody, inspect_json
from tests import clinical
from tests.operator import world as operator_world
from tests.support import PASSWORD, add_facility, add_user, login, opened, serving

PINFL = "31503951234567"
JSON = "application/json"
LIMIT = 1_048_576


class ProbeEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pinfl: Pinfl
    value: float
    note: str = ""


@post("/entries", opt=requires("probe.entry", "write"), status_code=201)
async def record(ctx: Ctx, data: ProbeEntry) -> dict[str, str]:
    async with ctx.storage.transaction() as tx:
        await tx.publish(EntryRecorded(patient=data.pinfl, facility=ctx.facility, entry_id=new_id(),
                                       kind="probe", performed_at=utcnow(),
                                       summary={"value": data.value, "note": data.note}))
    return {"pinfl": data.pinfl}


@get("/numbers/{n:str}", opt=requires("probe.entry", "write"))
async def number(ctx: Ctx, n: str) -> int:
    """Hands an unchecked integer to the database: the safety net must answer a 4xx, not a 500."""
    async with ctx.storage.transaction(readonly=True) as tx:
        return int((await tx.execute(select(literal(int(n), BigInteger)))).scalar_one())


class Probe:
    """A module that writes one outbox row per accepted entry."""

    @hookimpl
    def shifo_module_info(self) -> ModuleInfo:
        return ModuleInfo(name="probe", title="Probe", version="0")

    @hookimpl
    def shifo_route_handlers(self) -> list[Any]:
        return [record, number]

    @hookimpl
    def shifo_actions(self) -> list[Action]:
        return [Action(object="probe.entry", action="write")]

    @hookimpl
    def shifo_policies(self) -> list[PolicyRule]:
        return [PolicyRule(role="doctor", object="probe.entry", action="write")]


EXTRA = {"probe": Probe()}
DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB, 1,000 deep


def entry(pinfl: str = PINFL, value: str = "36.6", tail: str = "") -> bytes:
    return f'{{"pinfl":"{pinfl}","value":{value}{tail}}}'.encode()


def lookalike(zero: int) -> str:
    """PINFL written with another script's digits (\\d would match them; [0-9] does not)."""
    return "".join(chr(zero + int(d)) for d in PINFL)


# (name, body, content type, expected status, expected error field for a 422)
PROBE_CORPUS: list[tuple[str, bytes, str | None, int, str | None]] = [
    ("truncated", entry()[:-5], JSON, 400, None),
    ("non-UTF-8", b'{"pinfl":"\xff\xfe","value":1}', JSON, 400, None),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + entry(), JSON, 400, None),
    ("UTF-16", entry().decode().encode("utf-16"), JSON + "; charset=utf-16", 400, None),
    ("1,000 deep", entry(tail=',"note":' + DEEP.decode()), JSON, 400, None),
    ("1,000 deep bare", DEEP, JSON, 400, None),
    (f"{MAX_DEPTH + 1} deep", b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), JSON, 400, None),
    ("duplicate key", f'{{"pinfl":"1","value":1,"pinfl":"{PINFL}"}}'.encode(), JSON, 400, None),
    ("NaN", entry(value="NaN"), JSON, 400, None),
    ("Infinity", entry(value="Infinity"), JSON, 400, None),
    ("-Infinity", entry(value="-Infinity"), JSON, 400, None),
    ("NaN as a string", entry(value='"NaN"'), JSON, 422, "value"),
    ("inf as a string", entry(value='"inf"'), JSON, 422, "value"),
    ("number as a string", entry(value='"36.6"'), JSON, 422, "value"),
    ("1e400", entry(value="1e400"), JSON, 422, "value"),
    ("400-digit number", entry(value="1" + "0" * 400), JSON, 422, "value"),
    ("5,000-digit number", entry(value="9" * 5000), JSON, 400, None),
    ("Arabic-Indic digits", entry(pinfl=lookalike(0x0660)), JSON, 422, "pinfl"),
    ("escaped Arabic-Indic", entry(pinfl="\\u0663" * 14), JSON, 422, "pinfl"),
    ("full-width digits", entry(pinfl=lookalike(0xFF10)), JSON, 422, "pinfl"),
    ("Devanagari digits", entry(pinfl=lookalike(0x0966)), JSON, 422, "pinfl"),
    ("trailing newline", entry(pinfl=PINFL + "\\n"), JSON, 422, "pinfl"),
    ("13 digits", entry(pinfl=PINFL[:13]), JSON, 422, "pinfl"),
    ("PINFL as a number", f'{{"pinfl":{PINFL},"value":1}}'.encode(), JSON, 422, "pinfl"),
    ("wrong type", entry(value='"warm"'), JSON, 422, "value"),
    ("missing field", f'{{"pinfl":"{PINFL}"}}'.encode(), JSON, 422, "value"),
    ("unknown field", entry(tail=',"author":"someone-else"'), JSON, 422, None),
    ("array", b"[" + entry() + b"]", JSON, 422, None),
    ("null", b"null", JSON, 422, None),
    ("string", b'"hello"', JSON, 422, None),
    ("empty", b"", JSON, 400, None),
    ("whitespace", b"  \n", JSON, 400, None),
    ("trailing comma", entry()[:-1] + b",}", JSON, 400, None),
    ("trailing data", entry() + b"{}", JSON, 400, None),
    ("NUL in a string", entry(tail=',"note":"a\\u0000b"'), JSON, 400, None),
    ("NUL in a key", entry(tail=',"no\\u0000te":"x"'), JSON, 400, None),
    ("lone high surrogate", entry(tail=',"note":"\\ud800"'), JSON, 400, None),
    ("lone low surrogate", entry(tail=',"note":"x\\udc00y"'), JSON, 400, None),
    ("raw control byte", entry(tail=',"note":"a\x01b"'), JSON, 400, None),
    ("over the limit", entry(tail=',"note":"' + "a" * LIMIT + '"'), JSON, 413, None),
    ("text/plain", entry(), "text/plain", 415, None),
    ("form", b"pinfl=31503951234567&value=1", "application/x-www-form-urlencoded", 415, None),
    ("multipart", entry(), "multipart/form-data; boundary=x", 415, None),
    ("no content type", entry(), None, 415, None),
]

LOGIN = f'{{"login":"doc","password":"{PASSWORD}"}}'.encode()
LOGIN_CORPUS: list[tuple[str, bytes, str | None, int, str | None]] = [
    ("truncated", LOGIN[:-3], JSON, 400, None),
    ("non-UTF-8", b'{"login":"doc\xc0","password":"x"}', JSON, 400, None),
    ("1,000 deep", b'{"login":"doc","password":' + DEEP + b"}", JSON, 400, None),
    ("duplicate key", f'{{"login":"doc","password":"x","password":"{PASSWORD}"}}'.encode(), JSON, 400, None),
    ("NaN", b'{"login":NaN,"password":"x"}', JSON, 400, None),
    ("NUL", f'{{"login":"doc\\u0000","password":"{PASSWORD}"}}'.encode(), JSON, 400, None),
    ("surrogate", f'{{"login":"\\ud800doc","password":"{PASSWORD}"}}'.encode(), JSON, 400, None),
    ("huge number", b'{"login":' + b"9" * 5000 + b',"password":"x"}', JSON, 400, None),
    ("number for a string", f'{{"login":1,"password":"{PASSWORD}"}}'.encode(), JSON, 422, "login"),
    ("unknown field", LOGIN[:-1] + b',"role":"operator"}', JSON, 422, None),
    ("missing field", b'{"login":"doc"}', JSON, 422, "password"),
    ("array", b"[" + LOGIN + b"]", JSON, 422, None),
    ("empty", b"", JSON, 400, None),
    ("over the limit", LOGIN[:-1] + b',"x":"' + b"a" * LIMIT + b'"}', JSON, 413, None),
    ("text/plain", LOGIN, "text/plain", 415, None),
    ("no content type", LOGIN, None, 415, None),
]


def problems_of(name: str, status: int, field: str | None, r: Any) -> list[str]:
    """What is wrong with one answer (empty when it is the expected clean problem detail)."""
    wrong = []
    if r.status_code != status:
        wrong.append(f"{name}: {r.status_code} instead of {status}: {r.text[:200]}")
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        wrong.append(f"{name}: content-type {r.headers.get('content-type')}")
        return wrong
    body = r.json()
    if body.get("status") != r.status_code or not body.get("title") or not body.get("detail"):
        wrong.append(f"{name}: incomplete problem {body}")
    if field is not None and field not in [e.get("field") for e in body.get("errors", [])]:
        wrong.append(f"{name}: no error names the field {field!r}: {body}")
    return wrong


async def send_corpus(client: Any, path: str, corpus: list[Any], headers: dict[str, str]) -> list[str]:
    wrong = []
    for name, body, content_type, status, field in corpus:
        sent = dict(headers, **({"content-type": content_type} if content_type else {}))
        r = await client.post(path, content=body, headers=sent)
        wrong += problems_of(name, status, field, r)
    return wrong


async def count(settings: Settings, table: Any) -> int:
    async with opened(settings, EXTRA) as rt, rt.storage.transaction(readonly=True) as tx:
        return int((await tx.execute(select(func.count()).select_from(table))).scalar_one())


async def chunked_post(app: Any, path: str, headers: dict[str, str], chunk: bytes, chunks: int
                       ) -> tuple[int, dict[str, str], bytes, int]:
    """POST with ``Transfer-Encoding: chunked`` (no length) straight to the ASGI app, which the
    test client cannot do; returns the status, headers, body and how many chunks the app pulled."""
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(b"content-type", JSON.encode()), (b"transfer-encoding", b"chunked"),
           (b"host", b"testserver.local"), *((k.lower().encode(), v.encode()) for k, v in headers.items())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": raw, "client": ("127.0.0.1", 50000),
             "server": ("testserver.local", 80), "state": {}}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    found = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], found, body, pulled


async def test_login_answers_hostile_bodies_with_problems_and_signs_nobody_in(db_url: str) -> None:
    settings = Settings(database_url=db_url, run_relay=False, modules=("probe",))
    async with opened(settings, EXTRA) as rt:
        await add_user(rt, "doc")
    async with serving(settings, EXTRA) as client:
        wrong = await send_corpus(client, "/api/v1/auth/login", LOGIN_CORPUS, {})
        control = await client.post("/api/v1/auth/login", content=LOGIN, headers={"content-type": JSON})
    assert wrong == []
    assert control.status_code == 200, control.text  # the same route does sign in a clean body
    assert await count(settings, sessions) == 1


async def test_probe_route_answers_hostile_bodies_with_problems_and_writes_nothing(db_url: str) -> None:
    settings = Settings(database_url=db_url, run_relay=False, modules=("probe",), max_body_bytes=LIMIT)
    async with opened(settings, EXTRA) as rt:
        await add_facility(rt, "F1", ["probe"])
        await add_user(rt, "doc", grants=[("F1", "doctor")])
    path = "/api/v1/probe/entries"
    async with serving(settings, EXTRA) as client:
        auth = await login(client, "doc")
        wrong = await send_corpus(client, path, PROBE_CORPUS, auth)
        anonymous = await client.post(path, content=DEEP, headers={"content-type": JSON})
        # the app serves from the client's portal loop; the guard's database pool lives there
        status, headers, body, pulled = client.blocking_portal.call(
            chunked_post, client.app, path, auth, b"a" * 65536, 32)
        ok = await client.post(path, content=entry(), headers={**auth, "content-type": JSON})
    assert wrong == []
    assert anonymous.status_code == 401  # the guard answers before the body is read
    assert status == 413 and headers["content-type"].startswith("application/problem+json")
    assert msgspec.json.decode(body)["status"] == 413
    assert pulled == LIMIT // 65536 + 1  # reading stopped at the first chunk over the limit
    assert ok.status_code == 201, ok.text  # the route does write a clean entry
    assert await count(settings, outbox) == 1


@pytest.mark.parametrize("body", [
    b'{"a":"' + b"[" * 100 + b'"}',  # brackets inside strings are not nesting
    b'{"a":"\\"' + b"{" * 100 + b'"}',  # nor after an escaped quote
    b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
    b'{"a":[' + b"{},[]," * 50 + b"1]}",
])
def test_inspect_json_accepts_wide_or_quoted_brackets(body: bytes) -> None:
    inspect_json(body)


def test_inspect_json_counts_depth_outside_strings_only() -> None:
    with pytest.raises(MalformedBody, match="deep"):
        inspect_json(b'{"a":"[[[",' + b'"b":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}")


# -- parameters, ids and pre-flights (issue 20: each answered 500 on PostgreSQL or SQLite) --------

NUL_ROUTES = ["/api/v1/medcard/patients?surname=a%00b&birth_date=1985-03-15",
              "/api/v1/erecipe/dispensing?number=%00", "/api/v1/erecipe/dispensing?qr=a%00",
              "/api/v1/medcard/patients?surname=%ED%A0%80", "/api/v1/medcard/patients?surname=%FF"]
FHIR_NUL_ROUTES = ["/fhir/Patient/a%00b", "/fhir/Organization/F1%00", "/fhir/Patient?identifier=a%00b"]
OPERATOR_NUL_ROUTES = ["/api/v1/operator/facilities/%00", "/api/v1/operator/installations?facility=%00",
                       "/api/v1/operator/installations?state=%00", "/api/v1/operator/sla?region=%00"]
OUT_OF_RANGE = ["32768-1", "31-" + "9" * 20, "9" * 20 + "-1", "1-9223372036854775808", "99-1"]



async def test_nul_or_non_utf8_in_a_query_or_path_parameter_is_a_400(db_url: str, tmp_path: Path) -> None:
    settings = clinical.settings_for(db_url, tmp_path / "keys")
    await clinical.seed(settings)
    async with serving(settings) as client:
        callers = {"anonymous": {}, **{who: {**await login(client, who), "X-Facility": clinical.FACILITY}
                                       for who in ("doctor", "pharmacist")}}
        wrong = [w for path in NUL_ROUTES for who, auth in callers.items()
                 for w in problems_of(f"{who} {path}", 400, None, await client.get(path, headers=auth))]
        fhir = {f"{who} {path}": (await client.get(path, headers=auth)).status_code
                for path in FHIR_NUL_ROUTES for who, auth in callers.items()}
        clean = await client.get("/api/v1/medcard/patients?surname=a%20b&birth_date=1985-03-15",
                                 headers=callers["doctor"])
    assert wrong == []
    assert {name: status for name, status in fhir.items() if status != 400} == {}
    assert clean.status_code == 200, clean.text  # the same search with clean text is served


async def test_nul_in_an_operator_parameter_is_a_400(db_url: str) -> None:
    settings, world = await operator_world.seed(db_url)
    async with serving(settings) as client:
        wrong = [w for path in OPERATOR_NUL_ROUTES
                 for w in problems_of(path, 400, None, await client.get(path, headers=world["op"]))]
        clean = await client.get("/api/v1/operator/installations?facility=F1", headers=world["op"])
    assert wrong == []
    assert clean.status_code == 200, clean.text


async def test_options_answers_204_with_allow_to_anyone(db_url: str, tmp_path: Path) -> None:
    settings = clinical.settings_for(db_url, tmp_path / "keys")
    await clinical.seed(settings)
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    async with serving(settings) as client:
        doctor = {**await login(client, "doctor"), "X-Facility": clinical.FACILITY}
        answers = [(path, await client.options(path, headers={**preflight, **auth}))
                   for path in ("/api/v1/medcard/patients", "/api/v1/auth/login", "/health", "/fhir/Patient")
                   for auth in ({}, doctor)]
    assert [(p, r.status_code) for p, r in answers if r.status_code != 204] == []
    allowed = {p: set(r.headers["allow"].replace(" ", "").split(",")) for p, r in answers}
    assert "OPTIONS" in allowed["/api/v1/medcard/patients"] and allowed["/api/v1/medcard/patients"] & {"GET", "POST"}
    assert "POST" in allowed["/api/v1/auth/login"]


async def test_out_of_range_ids_and_cursors_are_not_found_or_invalid(db_url: str, tmp_path: Path) -> None:
    settings = clinical.settings_for(db_url, tmp_path / "keys")
    await clinical.seed(settings, patient_account=True)
    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|32768|1").decode()
    async with serving(settings) as client:
        doctor = {**await login(client, "doctor"), "X-Facility": clinical.FACILITY}
        patient = await login(client, "patient")
        reads = {rid: await client.get(f"/fhir/AuditEvent/{rid}", headers=doctor) for rid in OUT_OF_RANGE}
        mine = {rid: await client.get(f"/fhir/AuditEvent/{rid}", headers=patient) for rid in OUT_OF_RANGE}
        pages = [await client.get(f"/api/v1/patient/access-log?after={c}", headers=patient)
                 for c in (cursor, base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|1|" + b"9" * 20).decode())]
    assert {rid: r.status_code for rid, r in {**reads, **mine}.items() if r.status_code != 404} == {}
    assert [r.status_code for r in pages] == [422, 422], [r.text for r in pages]


@pytest.mark.parametrize("n", ["9" * 20, "-" + "9" * 20])
async def test_a_number_the_database_cannot_hold_is_a_400_not_a_500(db_url: str, n: str) -> None:
    settings = Settings(database_url=db_url, run_relay=False, modules=("probe",))
    async with opened(settings, EXTRA) as rt:
        await add_facility(rt, "F1", ["probe"])
        await add_user(rt, "doc", grants=[("F1", "doctor")])
    async with serving(settings, EXTRA) as client:
        auth = await login(client, "doc")
        ok = await client.get("/api/v1/probe/numbers/42", headers=auth)
        r = await client.get(f"/api/v1/probe/numbers/{n}", headers=auth)
    assert ok.status_code == 200 and ok.json() == 42
    assert problems_of("overflow", 400, None, r) == []
