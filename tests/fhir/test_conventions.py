"""The conventions FHIR clients rely on, through HTTP on the real modules: ``meta.versionId`` and
``meta.lastUpdated`` with the ETag, versioned reads, ``_lastUpdated``, ``_sort``, ``_summary=count``,
``Patient?family=&birthdate=``, 406 for an ``Accept`` the API does not serve, and the
CapabilityStatement saying all of it. One recorded history serves every check."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir.resources import get_fhir_model_class

from core.clock import utcnow
from tests.clinical import MEDCARD, PATIENT, build_history, seed, settings_for, signer_for
from tests.fhir.world import bundle, ids, outcome
from tests.support import serving

OBS = "/fhir/Observation"


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


class Fhir:
    """The doctor's FHIR calls, and the patient's Observation searches."""

    def __init__(self, client: Any, got: dict[str, Any]) -> None:
        self.client, self.got, self.doc = client, got, got["headers"]["doctor"]
        self.pid, self.pulse = got["patient_id"], got["pulse_id"]

    async def get(self, path: str, **headers: str) -> Any:
        return await self.client.get(path, headers={**self.doc, **headers})

    async def find(self, **params: str) -> dict[str, Any]:
        return bundle(await self.client.get(OBS, params={"patient": self.pid, **params}, headers=self.doc))

    async def refused(self, **params: str) -> None:
        outcome(await self.client.get(OBS, params={"patient": self.pid, **params}, headers=self.doc), 400)


async def _record(client: Any, got: dict[str, Any]) -> dict[str, Any]:
    """Two more vital signs at distinct times, then the pulse corrected (its version 2)."""
    nurse, doc = got["headers"]["nurse"], got["headers"]["doctor"]
    base = f"{MEDCARD}/patients/{got['patient_id']}"
    for name, code, value, hours in (("temp_id", "temperature", 36.6, 3), ("weight_id", "weight", 81, 2)):
        r = await client.post(f"{base}/indicators", headers=nurse, json={
            "code": code, "value": value, "performed_at": (utcnow() - timedelta(hours=hours)).isoformat()})
        assert r.status_code == 201, r.text
        got[name] = r.json()["id"]
    pulse = (await client.get(f"{base}/entries/{got['pulse_id']}", headers=doc)).json()
    r = await client.post(f"{base}/indicators/{got['pulse_id']}/versions", headers=nurse, json={
        "version": 1, "reason": "misread the monitor",
        "entry": {"code": "pulse", "value": 76, "performed_at": pulse["performed_at"]}})
    assert r.status_code in (200, 201), r.text
    return got


async def _versions(f: Fhir) -> dict[str, Any]:
    """meta, ETag, vread and If-None-Match; each type gives what it keeps. Returns the pulse now."""
    r = await f.get(f"{OBS}/{f.pulse}")
    now = _ok(r)
    assert now["meta"]["versionId"] == "2" and r.headers["etag"] == 'W/"2"'
    assert now["valueQuantity"]["value"] == 76 and r.headers["last-modified"].endswith(" GMT")
    assert list(now)[:3] == ["resourceType", "id", "meta"] and now["meta"]["lastUpdated"]
    first = _ok(await f.get(f"{OBS}/{f.pulse}/_history/1"))
    assert first["meta"]["versionId"] == "1" and first["valueQuantity"]["value"] == 88
    assert first["meta"]["lastUpdated"] < now["meta"]["lastUpdated"]
    second = await f.get(f"{OBS}/{f.pulse}/_history/2")
    assert _ok(second) == now and second.headers["etag"] == 'W/"2"'
    for vid in ("3", "0", "x1"):
        outcome(await f.get(f"{OBS}/{f.pulse}/_history/{vid}"), 404)
    outcome(await f.get(f"/fhir/Condition/{f.pulse}/_history/1"), 404)  # not a Condition
    same = await f.get(f"{OBS}/{f.pulse}", **{"If-None-Match": 'W/"2"'})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == 'W/"2"'
    older = await f.get(f"{OBS}/{f.pulse}", **{"If-None-Match": 'W/"1"'})
    assert older.status_code == 200 and older.json()["meta"]["versionId"] == "2"
    # types without history answer their current version only
    patient = await f.get(f"/fhir/Patient/{f.pid}/_history/1")
    assert _ok(patient)["meta"]["versionId"] == "1" and patient.headers["etag"] == 'W/"1"'
    outcome(await f.get(f"/fhir/Patient/{f.pid}/_history/2"), 404)
    rx = await f.get(f"/fhir/MedicationRequest/{f.got['rx_id']}-1")
    assert _ok(rx)["meta"]["versionId"] == "2" and rx.headers["etag"] == 'W/"2"'  # issued, dispensed
    assert _ok(await f.get(f"/fhir/Encounter/{f.got['stay_id']}"))["meta"]["versionId"] == "2"  # discharged
    visit = await f.get(f"/fhir/Encounter/{f.got['visit_id']}")  # a visit keeps no version
    assert "versionId" not in _ok(visit).get("meta", {}) and "etag" not in visit.headers
    outcome(await f.get(f"/fhir/Encounter/{f.got['visit_id']}/_history/1"), 404)
    return now


def _times(body: dict[str, Any], key: str) -> list[str]:
    return [e["resource"]["effectiveDateTime"] if key == "date" else e["resource"]["meta"]["lastUpdated"]
            for e in body["entry"]]


async def _search(f: Fhir, now: dict[str, Any]) -> None:
    """Every entry carries its meta; _lastUpdated, _sort and _summary=count."""
    every = await f.find(_count="100")
    assert len(ids(every)) == 5 and every["total"] == 5
    stamps = {e["resource"]["id"]: e["resource"]["meta"] for e in every["entry"]}
    assert stamps[f.pulse]["versionId"] == "2" and all(m["lastUpdated"] for m in stamps.values())
    since = now["meta"]["lastUpdated"]
    assert ids(await f.find(_lastUpdated=f"ge{since}")) == [f.pulse]
    assert set(ids(await f.find(_lastUpdated=f"lt{since}", _count="100"))) == set(stamps) - {f.pulse}
    assert ids(await f.find(_lastUpdated="gt2999-01-01")) == []
    await f.refused(_lastUpdated="gt-yesterday")
    for key in ("date", "_lastUpdated"):
        up, down = await f.find(_sort=key, _count="100"), await f.find(_sort=f"-{key}", _count="100")
        assert _times(up, key) == sorted(_times(up, key)) and _times(down, key) == sorted(_times(down, key))[::-1]
        assert set(ids(up)) == set(ids(down)) == set(stamps)
    assert ids(up)[-1] == f.pulse and ids(down)[0] == f.pulse  # the latest change
    oldest = await f.find(_sort="date", _count="1")
    assert ids(oldest) == [f.got["temp_id"]] and ids(await f.find(_count="1")) != [f.got["temp_id"]]
    nxt = next(link["url"] for link in oldest["link"] if link["relation"] == "next")
    assert parse_qs(urlsplit(nxt).query)["_sort"] == ["date"]
    assert ids(bundle(await f.get(nxt))) == [f.got["weight_id"]]
    for bad in ("code", "date,-_lastUpdated", "_id"):
        await f.refused(_sort=bad)
    outcome(await f.get(f"/fhir/Patient?identifier={f.got['pinfl']}&_sort=date"), 400)  # no date there
    visits = f"/fhir/Encounter?patient={f.pid}&_sort="  # a key all the type's providers order by
    assert ids(bundle(await f.get(f"{visits}date"))) == [f.got["visit_id"], f.got["stay_id"]]
    outcome(await f.get(f"{visits}-_lastUpdated"), 400)  # visits keep no _lastUpdated
    for extra in ({}, {"_lastUpdated": f"lt{since}"}, {"code": "http://loinc.org|85354-9"}):
        plain, counted = await f.find(_count="100", **extra), await f.find(_summary="count", **extra)
        assert counted["total"] == len(ids(plain)) == plain["total"] and "entry" not in counted
    assert counted["total"] == 1
    await f.refused(_summary="text")


async def _patients_and_formats(f: Fhir) -> None:
    """Patient by surname and birth date (both or neither), and 406 for what is not JSON."""
    family = f"/fhir/Patient?family=USMONOV&birthdate={PATIENT['birth_date']}"
    assert ids(bundle(await f.get(family))) == [f.pid]
    assert bundle(await f.get(f"{family}&_summary=count"))["total"] == 1
    for miss in ("family=Usmonov&birthdate=1997-11-03", "family=Usmon&birthdate=1997-11-02"):
        assert ids(bundle(await f.get(f"/fhir/Patient?{miss}"))) == []
    for alone in ("family=Usmonov", "birthdate=1997-11-02", "family=Usmonov&birthdate=1997-11",
                  "family=Usmonov&birthdate=ge1997-11-02"):
        outcome(await f.get(f"/fhir/Patient?{alone}"), 400)
    await f.refused(family="Usmonov", birthdate="1997-11-02")  # not an Observation parameter
    for accept in ("application/fhir+xml", "text/html", "application/json;q=0, text/html"):
        for path in (f"/fhir/Patient/{f.pid}", f"{OBS}?patient={f.pid}", "/fhir/metadata"):
            answer = outcome(await f.get(path, Accept=accept), 406)
            assert answer["issue"][0]["code"] == "not-supported"
    for accept in ("application/fhir+json", "application/json", "text/html, */*;q=0.8", "application/*"):
        _ok(await f.get(f"/fhir/Patient/{f.pid}", Accept=accept))
    _ok(await f.get(f"/fhir/Patient/{f.pid}?_format=json", Accept="text/html"))


async def _capabilities(f: Fhir) -> None:
    cap = _ok(await f.client.get("/fhir/metadata"))
    assert {"json", "application/fhir+json"} <= set(cap["format"])
    assert "_summary=count" in cap["rest"][0]["documentation"]
    types = {r["type"]: r for r in cap["rest"][0]["resource"]}
    observation, patient, encounter = types["Observation"], types["Patient"], types["Encounter"]
    assert observation["versioning"] == "versioned" and observation["readHistory"] is True
    assert observation["conditionalRead"] == "not-match"
    assert {"read", "vread", "search-type"} <= {i["code"] for i in observation["interaction"]}
    assert {"_lastUpdated", "date"} <= {p["name"] for p in observation["searchParam"]}
    assert "-_lastUpdated" in observation["documentation"] and "-date" in observation["documentation"]
    assert {"family", "birthdate", "identifier"} <= {p["name"] for p in patient["searchParam"]}
    assert patient["readHistory"] is False and patient["versioning"] == "versioned"
    assert encounter["versioning"] == "no-version" and "-_lastUpdated" not in encounter["documentation"]
    assert "vread" not in {i["code"] for i in encounter["interaction"]}


async def test_versions_etags_search_conventions_and_capabilities(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings)
    async with serving(settings) as client:
        f = Fhir(client, await _record(client, await build_history(client, signer_for(settings))))
        await _search(f, await _versions(f))
        await _patients_and_formats(f)
        await _capabilities(f)
