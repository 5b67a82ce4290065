"""``/schema/openapi.json`` tells the truth: every operation has a summary, a description, its
security (or is marked public, as its route declares), ``X-Facility`` where the facility is chosen
from it, and the error answers it can give in the media type they come in; and real answers of the
running API (401, 403, 422, FHIR 400) are among those their operation documents.

The first test needs no database: the document is built from the app alone.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute

from host.fhir import outcome
from host.pluginapi import Permission
from host.settings import Settings
from host.web import openapi_rules, problems
from host.web.app import create_app
from host.web.openapi_doc import document, handlers
from host.web.openapi_shapes import BEARER, OUTCOME, PROBLEM
from tests.clinical import FACILITY, PATIENT
from tests.support import ALL_MODULES, add_facility, add_user, login, opened, serving

METHODS = ("get", "put", "post", "patch", "delete", "head")
PROBLEM_REF, OUTCOME_REF = f"#/components/schemas/{PROBLEM}", f"#/components/schemas/{OUTCOME}"


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS]


def litestar_default_summary(handler: Any) -> str:
    return re.sub(r"[\W_]", "", handler.handler_name.title())


def served(app: Litestar) -> int:
    return sum(1 for route in app.routes if isinstance(route, HTTPRoute)
               for h in route.route_handlers if h.resolve_include_in_schema() and h.http_methods != {"OPTIONS"})


def test_every_operation_documents_summary_description_security_and_errors() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", modules=ALL_MODULES, run_relay=False))
    doc, routes = document(app), handlers(app)
    ops = operations(doc)
    assert len(ops) == served(app) > 130  # every route of every module, none left out
    assert not [p for p in doc["paths"] if p.startswith(("/console", "/schema"))]
    assert doc["components"]["securitySchemes"][BEARER] == {**doc["components"]["securitySchemes"][BEARER],
                                                             "type": "http", "scheme": "bearer"}
    facility_ops, public = 0, []
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        handler = routes[path, method.upper()]
        perm, fhir = handler.opt.get("permission"), outcome.is_fhir(path)
        summary, description = op.get("summary", ""), op.get("description", "")
        assert summary and summary != "Handler", where
        assert handler.summary or summary != litestar_default_summary(handler), f"{where}: {summary}"
        assert description and not description.startswith("**Access:**"), f"{where}: no text of its own"
        assert "**Access:**" in description, where
        responses = op["responses"]
        declared = {str(s) for s in handler.responses or {}}
        errors = {s: r for s, r in responses.items() if s[0] in "45" and s not in declared}
        media, ref = ((outcome.MEDIA_TYPE, OUTCOME_REF) if fhir else (problems.MEDIA_TYPE, PROBLEM_REF))
        for status, answer in errors.items():
            assert answer["description"], f"{where} {status}"
            assert answer["content"] == {media: {"schema": {"$ref": ref}}}, f"{where} {status}"
        if isinstance(perm, Permission):
            assert op["security"] == [{BEARER: []}], where
            assert op["x-shifo-permission"]["object"] == perm.object, where
            assert "401" in errors and "503" in errors, where
            assert "403" in errors or perm.principal == "patient", where
            assert "Retry-After" in errors["503"]["headers"], where
            assert "WWW-Authenticate" in errors["401"]["headers"], where
        else:
            assert perm == "public" and op["security"] == [], where
            assert "401" not in errors and "403" not in errors, where
            public.append(path)
        params = op.get("parameters", [])
        if any(p["in"] == "path" for p in params):
            assert "404" in errors, where
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= errors.keys(), where
        if fhir:
            assert "406" in errors, where
            assert all(outcome.MEDIA_TYPE in r.get("content", {outcome.MEDIA_TYPE: 0})
                       for s, r in responses.items() if s[0] == "2"), where
        takes = isinstance(perm, Permission) and perm.principal == "staff" and (perm.facility_scoped or fhir)
        facility = [p for p in params if p["name"] == "X-Facility"]
        assert bool(facility) == takes, where
        if facility:
            assert facility[0]["in"] == "header" and facility[0]["required"] is False
            facility_ops += 1
    assert facility_ops > 100
    assert sorted(set(public)) == ["/", "/api/v1/auth/challenge", "/api/v1/auth/login", "/api/v1/auth/login/eds",
                                   "/api/v1/auth/logout", "/fhir/metadata", "/health", "/metrics", "/ready"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/login/eds"):
        assert {"423", "429"} <= doc["paths"][path]["post"]["responses"].keys()
    assert "503" in doc["paths"]["/ready"]["get"]["responses"]  # its own body, declared by the route
    # the shapes are those the code produces
    body = problems.problem(422, "x", instance="/p", errors=[{"field": "a"}], request_id="r").content
    schema = doc["components"]["schemas"][PROBLEM]
    assert set(body) <= set(schema["properties"]) and set(schema["required"]) <= set(body)
    assert set(outcome.outcome(404, "x")) == set(doc["components"]["schemas"][OUTCOME]["required"])
    # the cross-field rules found their schemas, and say so in words
    schemas = doc["components"]["schemas"]
    assert openapi_rules.apply(dict(schemas)) == list(openapi_rules.BODY_RULES)
    assert "if" in schemas["IndicatorIn"] and "anyOf" in schemas["AdmitIn"]
    assert "PINFL must agree" in schemas["PatientIn"]["description"]
    search = doc["paths"]["/api/v1/medcard/patients"]["get"]["description"]
    assert "surname" in search and "birth_date" in search and "422" in search
    assert "must name the patient" in doc["paths"]["/fhir/Observation"]["get"]["description"]
    assert "must name the patient" not in doc["paths"]["/fhir/Organization"]["get"]["description"]


def documented(doc: dict[str, Any], method: str, path: str, answer: Any) -> dict[str, Any]:
    """The documented response of ``answer``'s status, checked to carry the media type it came in."""
    responses = doc["paths"][path][method]["responses"]
    assert str(answer.status_code) in responses, (method, path, answer.status_code, sorted(responses))
    media = answer.headers["content-type"].split(";")[0]
    assert media in responses[str(answer.status_code)]["content"], (path, answer.status_code, media)
    return responses[str(answer.status_code)]  # type: ignore[no-any-return]


async def test_real_errors_are_the_documented_ones(db_url: str) -> None:
    settings = Settings(database_url=db_url, modules=("medcard",), run_relay=False)  # enough, and quick
    async with opened(settings) as rt:
        await add_facility(rt, FACILITY, ["medcard"])
        await add_user(rt, "doctor", grants=[(FACILITY, "doctor")])
    async with serving(settings) as client:
        got = await client.get("/schema/openapi.json")
        assert got.status_code == 200 and got.headers["content-type"].startswith("application/vnd.oai.openapi+json")
        doc = got.json()
        again = await client.get("/schema/openapi.json")
        doctor = {**await login(client, "doctor"), "X-Facility": FACILITY}
        patients = "/api/v1/medcard/patients"
        anonymous = await client.get(patients, params={"pinfl": PATIENT["pinfl"]})
        elsewhere = await client.get(patients, params={"pinfl": PATIENT["pinfl"]},
                                     headers={**doctor, "X-Facility": "F-nowhere"})
        half_search = await client.get(patients, params={"surname": "Usmonov"}, headers=doctor)
        bad_pinfl = await client.post(patients, json={**PATIENT, "pinfl": PATIENT["pinfl"][:-1] + "0"},
                                      headers=doctor)
        missing = await client.post(patients, json={"surname": "Usmonov"}, headers=doctor)
        registered = await client.post(patients, json=PATIENT, headers=doctor)
        pulse = await client.post(f"{patients}/{registered.json()['id']}/indicators", headers=doctor, json={
            "code": "pulse", "systolic": 120, "performed_at": "2025-01-01T10:00:00+05:00"})
        fhir_all = await client.get("/fhir/Observation", headers=doctor)
        fhir_anonymous = await client.get("/fhir/Observation")
    assert again.content == got.content  # built once
    assert anonymous.status_code == 401 and elsewhere.status_code == 403
    assert half_search.status_code == bad_pinfl.status_code == missing.status_code == pulse.status_code == 422
    assert registered.status_code == 201
    assert fhir_all.status_code == 400 and fhir_anonymous.status_code == 401
    for method, path, answer in [
        ("get", patients, anonymous), ("get", patients, elsewhere), ("get", patients, half_search),
        ("post", patients, bad_pinfl), ("post", patients, missing), ("post", patients, registered),
        ("post", "/api/v1/medcard/patients/{patient_id}/indicators", pulse),
        ("get", "/fhir/Observation", fhir_all), ("get", "/fhir/Observation", fhir_anonymous),
    ]:
        documented(doc, method, path, answer)
        if answer.status_code >= 400 and not path.startswith("/fhir"):
            schema = doc["components"]["schemas"][PROBLEM]
            assert set(schema["required"]) <= answer.json().keys() <= set(schema["properties"]), answer.json()
    assert fhir_all.json()["resourceType"] == "OperationOutcome"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
