"""FHIR search through the facade: paging, merging two providers, date prefixes, strict params."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.fhir.fake import plugins
from tests.fhir.world import PA, UA, UB, auth, bundle, ids, outcome, seed, settings_for
from tests.support import serving

A_ITEMS = {f"p-{n}" for n in range(25)} | {"q-0", "q-1"}


def links(body: dict[str, object]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in body["link"]}  # type: ignore[attr-defined]


async def test_three_pages_merge_two_providers_without_gaps_or_repeats(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        doctor = await auth(client, "doctor")
        r = await client.get("/fhir/Observation", params={"patient": f"Patient/{UA}", "_count": "10"},
                             headers=doctor)
        pages = [bundle(r)]
        while "next" in links(pages[-1]):
            nxt = links(pages[-1])["next"]
            assert nxt.startswith("http") and "/fhir/Observation?" in nxt
            pages.append(bundle(await client.get(nxt, headers=doctor)))
        assert [len(ids(p)) for p in pages] == [10, 10, 7]
        seen = [i for p in pages for i in ids(p)]
        assert len(seen) == len(set(seen)) and set(seen) == A_ITEMS
        # newest first across both modules; p-3 and q-0 share their time: by id
        assert seen[:3] == ["q-1", "p-24", "p-23"] and seen.index("p-3") + 1 == seen.index("q-0")
        assert "previous" not in links(pages[0]) and "total" not in pages[0]
        back = links(pages[2])["previous"]
        assert parse_qs(urlsplit(back).query)["_offset"] == ["10"]
        assert ids(bundle(await client.get(back, headers=doctor))) == ids(pages[1])
        assert pages[2]["total"] == 27
        self_query = parse_qs(urlsplit(links(pages[1])["self"]).query)
        assert self_query == {"patient": [f"Patient/{UA}"], "_count": ["10"], "_offset": ["10"]}
        entry = pages[0]["entry"][0]
        assert entry["search"] == {"mode": "match"}
        assert entry["fullUrl"].endswith("/fhir/Observation/q-1") and entry["fullUrl"].startswith("http")
        # a bare id works as well; an unknown patient matches nothing
        bare = bundle(await client.get("/fhir/Observation", params={"patient": UA, "_count": "100"},
                                       headers=doctor))
        assert set(ids(bare)) == A_ITEMS and bare["total"] == 27
        for nobody in ("00000000-0000-0000-0000-00000000000c", "not-a-uuid"):
            empty = bundle(await client.get("/fhir/Observation", params={"patient": nobody}, headers=doctor))
            assert empty["total"] == 0 and ids(empty) == []
        # the record is never listed across patients: a clinical search must name one
        unnamed = outcome(await client.get("/fhir/Observation", params={"_count": "100"}, headers=doctor), 400)
        assert "name the patient" in unnamed["issue"][0]["diagnostics"]
        big = bundle(await client.get("/fhir/Observation", params={"patient": UA, "_count": "500"},
                                      headers=doctor))
        assert parse_qs(urlsplit(links(big)["self"]).query)["_count"] == ["100"]


async def test_date_prefixes_code_and_status(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        doctor = await auth(client, "doctor")

        async def found(*params: tuple[str, str]) -> set[str]:
            r = await client.get("/fhir/Observation", params=[("patient", UA), ("_count", "100"), *params],
                                 headers=doctor)
            return set(ids(bundle(r)))

        def pulses(*days: int) -> set[str]:
            return {f"p-{d}" for d in days}

        # p-n is at 12:00 UTC on 2024-01-(n+1)
        assert await found(("date", "ge2024-01-05"), ("date", "lt2024-01-10")) == pulses(4, 5, 6, 7, 8)
        assert await found(("date", "eq2024-01-05")) == pulses(4)
        assert await found(("date", "2024-01-05")) == pulses(4)
        assert await found(("date", "gt2024-01-05"), ("date", "le2024-01-07")) == pulses(5, 6)
        assert await found(("date", "ge2024-01-05T12:00:00Z"), ("date", "lt2024-01-06")) == pulses(4)
        assert await found(("date", "gt2024-01-05T12:00:00Z"), ("date", "lt2024-01-07")) == pulses(5)
        assert await found(("date", "ge2024-01-05T16:00:00+05:00"), ("date", "le2024-01-05")) == pulses(4)
        assert await found(("date", "ge2024-01-05T17:01+05:00"), ("date", "le2024-01-05")) == set()
        assert await found(("date", "lt2024-01-03")) == pulses(0, 1)
        assert await found(("date", "eq2024-02")) == set()
        assert await found(("date", "eq2024-01")) == A_ITEMS
        assert await found(("date", "2024")) == A_ITEMS
        assert await found(("date", "ge2024-01-10"), ("date", "lt2024-01-05")) == set()
        assert await found(("status", "amended")) == pulses(0, 5, 10, 15, 20)
        assert await found(("code", "glucose")) == {"q-0", "q-1"}
        assert await found(("code", "http://loinc.org|glucose"), ("date", "le2024-01-10")) == {"q-0"}
        for bad in ("xx2024-01-01", "ne2024-01-01", "2024-13-01", "2024-01-32", "yesterday", "2024-01-05T25:00Z",
                    "ge", ""):
            r = await client.get("/fhir/Observation", params={"patient": UA, "date": bad}, headers=doctor)
            outcome(r, 400)


async def test_bad_parameters_and_unknown_things_are_operation_outcomes(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        doctor = await auth(client, "doctor")
        bad = [{"foo": "1"}, {"code:text": "x"}, {"identifier": "x"}, {"_count": "abc"}, {"_count": "0"},
               {"_count": "-1"}, {"_count": "9" * 5000}, {"_offset": "-1"}, {"_offset": "99999999"},
               {"code": "a,b"}, {"patient": "Patient/a b"}, {"patient": "Practitioner/1"}, {"_format": "xml"},
               {"_sort": "date"}, {"status": "x" * 300}]
        for params in bad:
            r = await client.get("/fhir/Observation", params=params, headers=doctor)
            assert outcome(r, 400)["issue"][0]["code"] == "invalid", params
        r = await client.get("/fhir/Observation?status=final&status=amended", headers=doctor)
        outcome(r, 400)
        r = await client.get("/fhir/Patient", params={"patient": UB}, headers=doctor)  # not a Patient param
        outcome(r, 400)
        assert outcome(await client.get("/fhir/Foo", headers=doctor), 404)["issue"][0]["code"] == "not-found"
        outcome(await client.get("/fhir/Foo/1", headers=doctor), 404)
        outcome(await client.get("/fhir/Observation/nope", headers=doctor), 404)
        outcome(await client.get("/fhir/Observation/a%20b", headers=doctor), 404)
        outcome(await client.post("/fhir/Observation", json={}, headers=doctor), 405)
        ok = await client.get("/fhir/Observation/p-3", headers=doctor)
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/fhir+json")
        assert ok.json()["subject"]["reference"] == f"Patient/{UA}"
        found = bundle(await client.get("/fhir/Patient", params={"identifier": f"urn:x|{PA}"}, headers=doctor))
        assert ids(found) == [UA]
        assert bundle(await client.get("/fhir/Observation", params={"patient": UA, "_format": "json"},
                                       headers=doctor))
