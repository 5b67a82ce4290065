"""The medicines register: its import (demo round trip, idempotence, cp1251 and ';', rejects, versions,
striking off), its search and FHIR Medication, and prescribing against it (free text refused, the
category following the product: Morphine is ``controlled``, which a resident may not prescribe)."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

from core.clock import utcnow
from host.pluginapi import CommandContext
from plugins.erecipe import medicines, medicines_cli
from plugins.erecipe.medicines_csv import COLUMNS
from plugins.erecipe.medicines_import import DEMO_FILE, import_file
from tests.erecipe.rx import (
    AMOXIL,
    MORPHINE,
    NORVASC,
    actor,
    draft_body,
    issued,
    line,
    morphine,
    seed,
    settings_for,
)
from tests.support import opened, serving

DEMO = list(csv.DictReader(io.StringIO(DEMO_FILE.read_text(encoding="utf-8"))))


def _csv(rows: list[dict[str, str]], sep: str = ",") -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=sep, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def _row(regno: str, **changes: str) -> dict[str, str]:
    return {"registration_number": regno, "trade_name": "Парацетамол-Ника", "inn": "Paracetamol",
            "atc": "N02BE01", "form": "tablet", "strength": "0,5 g", "pack_size": "10",
            "manufacturer": "Nika Pharm", "gtins": "4780000000014", "valid_from": "01.03.2022", "valid_to": "",
            "prescription_only": "нет", "narcotic": "0", "psychotropic": "0", "precursor": "0", **changes}


async def _cli(rt: Any, path: Path, rejects: Path, **options: Any) -> int:
    args = argparse.Namespace(file=str(path), rejects=str(rejects), encoding="utf-8-sig", delimiter=None)
    for k, v in options.items():
        setattr(args, k, v)
    return await medicines_cli.COMMAND.run(CommandContext(storage=rt.storage, services={}), args)


async def test_register_import_search_and_versions(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)  # the demo register imported once
    async with opened(s) as rt:
        again = await import_file(rt.storage, DEMO_FILE.read_bytes(), utcnow(), progress=None)
        assert (again.rows, again.created, again.changed, again.unchanged) == (len(DEMO), 0, 0, len(DEMO))

        national = tmp_path / "national.csv"  # cp1251, ';', dates as DD.MM.YYYY, decimal comma
        national.write_bytes(_csv([
            _row("UZ-1"), _row("UZ-2", atc="N02BE"), _row("UZ-3", gtins="4780000000017"),
            _row("UZ-4", inn=""), _row("UZ-1", trade_name="twice"), _row("UZ-5", strength="5 pills"),
            _row("UZ-6", valid_to="01.01.2020"),
        ], sep=";").encode("cp1251"))
        assert await _cli(rt, national, tmp_path / "rejects.csv", encoding="cp1251") == medicines_cli.REJECTED
        back = (tmp_path / "rejects.csv").read_bytes().decode("cp1251")  # as the file came: fix and re-import
        rows = list(csv.DictReader(io.StringIO(back), delimiter=";"))
        assert [r["registration_number"] for r in rows] == ["UZ-2", "UZ-3", "UZ-4", "UZ-1", "UZ-5", "UZ-6"]
        rejected = {int(r["line"]): r["reason"] for r in rows}
        assert sorted(rejected) == [3, 4, 5, 6, 7, 8]
        assert "atc" in rejected[3] and "check digit" in rejected[4] and "inn is empty" in rejected[5]
        assert "also on line 2" in rejected[6] and "UCUM" in rejected[7] and "not after" in rejected[8]
        assert await _cli(rt, national, tmp_path / "r2.csv", encoding="cp1251", delimiter=";") == 4  # no-op

        changed = [dict(r) for r in DEMO]  # Amoxil changes manufacturer; Norvasc is struck off today
        amoxil = next(r for r in changed if r["gtins"] == AMOXIL)
        amoxil["manufacturer"] = "GSK Uzbekistan"
        next(r for r in changed if r["gtins"] == NORVASC)["valid_to"] = date.today().isoformat()
        report = await import_file(rt.storage, _csv(changed).encode(), utcnow(), progress=None)
        assert (report.created, report.changed, report.unchanged) == (0, 2, len(DEMO) - 2)
        async with rt.storage.transaction(readonly=True) as tx:  # the demo file round-trips
            stored = {m.registration_number: m for m in await medicines.search(tx, "", limit=100)}
            for m in stored.values():  # each lookup answers a product as search does, its GTINs with it
                assert await medicines.by_ref(tx, str(m.id)) == m
                assert await medicines.by_ref(tx, m.registration_number) == m
                assert [await medicines.by_ref(tx, g.lstrip("0")) for g in m.gtins] == [m] * len(m.gtins)
                assert await medicines.by_inn(tx, m.inn.upper(), m.form, m.strength) == [
                    p for p in stored.values() if medicines.same_product(m, p)]
        for row in DEMO:
            m = msgspec.to_builtins(stored[row["registration_number"]])
            back = {**m, "strength": f"{m['strength_value']} {m['strength_unit']}", "gtins": " ".join(
                g.lstrip("0") for g in m["gtins"]), "pack_size": str(m["pack_size"]), "valid_to": m["valid_to"] or "",
                **{f: str(int(m[f])) for f in COLUMNS[11:]}}
            expected = {**row, "manufacturer": "GSK Uzbekistan"} if row["gtins"] == AMOXIL else row
            expected = {**expected, "valid_to": date.today().isoformat()} if row["gtins"] == NORVASC else expected
            assert {k: back[k] for k in COLUMNS} == expected, row

    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        resident = await actor(client, signer, "resident")
        pharmacist = await actor(client, signer, "pharmacist")
        nurse = await actor(client, signer, "nurse")

        for row in DEMO[::11]:  # a sample through HTTP (all of them below, through storage)
            found = (await pharmacist.get("/medicines/", q=row["gtins"].split()[0])).json()
            assert [m["registration_number"] for m in found] == [row["registration_number"]], found
        by_inn = (await doctor.get("/medicines/", q="amoxicillin")).json()
        assert {m["trade_name"] for m in by_inn} == {"Amoxil", "Amoxicillin Sandoz", "Amoxicillin Remedy"}
        assert {m["trade_name"] for m in (await doctor.get("/medicines/", q="N05BA")).json()} == {"Relanium",
                                                                                                  "Xanax"}
        assert [m["inn"] for m in (await doctor.get("/medicines/", q="Парацетамол")).json()] == ["Paracetamol"]
        assert (await nurse.get("/medicines/", q="amoxicillin")).status_code == 403

        history = (await doctor.get("/medicines/", q=AMOXIL, history="true")).json()
        assert sorted((m["version"], m["manufacturer"], m["current"]) for m in history) == [
            (1, "GlaxoSmithKline", False), (2, "GSK Uzbekistan", True)]
        old = next(m for m in history if m["version"] == 1)
        assert (await doctor.get(f"/medicines/{old['id']}")).json()["manufacturer"] == "GlaxoSmithKline"

        # prescribing against the register
        r = await doctor.post("/prescriptions/drafts", draft_body(lines=[line(medicine=NORVASC, inn=None,
                                                                               form=None, strength=None)]))
        assert r.status_code == 422 and "struck off" in r.json()["detail"], r.text
        amlodipine = line(inn="Amlodipine", form="tablet", strength="5 mg")  # Amlodipine-Teva still is
        assert (await doctor.post("/prescriptions/drafts", draft_body(lines=[amlodipine]))).status_code == 201
        for bad, words in (({"inn": "Miracle cure"}, "no registered product"),
                           ({"inn": None, "form": None}, "free text"),
                           ({"medicine": "Aspirin please", "inn": None, "form": None, "strength": None},
                            "not in the medicines register")):
            r = await doctor.post("/prescriptions/drafts", draft_body(lines=[line(), line(**bad)]))
            assert r.status_code == 422 and "line 2" in r.json()["detail"] and words in r.json()["detail"], r.text
            assert r.json()["errors"][0]["field"] == "lines[1]"

        body = {k: v for k, v in draft_body(lines=[morphine(quantity=10)]).items() if k != "category"}
        r = await resident.post("/prescriptions/drafts", body)
        assert r.status_code == 403 and "controlled" in r.json()["detail"], r.text
        r = await resident.post("/prescriptions/drafts", {**body, "category": "standard"})
        assert r.status_code == 422 and "narcotic" in r.json()["detail"]
        r = await doctor.post("/prescriptions/drafts", draft_body(category="controlled"))  # amoxicillin
        assert r.status_code == 422 and "no line is one" in r.json()["detail"]
        r = await doctor.post("/prescriptions/drafts", body)
        assert r.status_code == 201 and r.json()["content"]["category"] == "controlled"
        assert r.json()["content"]["dispensing"] == {"partial": False, "repeats": 1}
        assert r.json()["content"]["lines"][0]["atc"] == "N02AA01"

        rx = await issued(doctor, lines=[line(medicine=AMOXIL, inn=None, form=None, strength=None)])
        named = rx["lines"][0]
        assert named["medicine"]["version"] == 2 and (named["inn"], named["strength"]) == ("Amoxicillin",
                                                                                          "500 mg")
        fhir = doctor.headers
        req = (await client.get(f"/fhir/MedicationRequest/{rx['id']}-1", headers=fhir)).json()
        reference = req["medication"]["reference"]["reference"]
        assert reference == f"Medication/{named['medicine']['id']}" and req["medication"]["concept"]["coding"][
            0]["code"] == "J01CA04"
        med = (await client.get(f"/fhir/{reference}", headers=fhir)).json()
        assert med["resourceType"] == "Medication" and med["code"]["coding"][0]["code"] == "J01CA04"
        assert {"system": "https://www.gs1.org/gtin", "value": "0" + AMOXIL} in med["identifier"]
        bundle = (await client.get("/fhir/Medication", headers=fhir,
                                   params={"identifier": f"https://www.gs1.org/gtin|0{MORPHINE}"})).json()
        assert [e["resource"]["code"]["text"] for e in bundle.get("entry", [])] == ["Morphine Jurabek"], bundle
