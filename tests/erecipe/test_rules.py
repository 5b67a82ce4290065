"""Category rules from configuration, checked synchronously when the prescription is drafted."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from host.modules import Modules
from plugins.erecipe import config
from tests.erecipe.rx import (
    MORPHINE,
    actor,
    dispense,
    draft_body,
    issued,
    item,
    line,
    morphine,
    seed,
    settings_for,
)
from tests.support import serving


async def test_categories_validity_and_input(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        resident = await actor(client, signer, "resident")
        pharmacist = await actor(client, signer, "pharmacist")

        r = await resident.post("/prescriptions/drafts", draft_body(category="controlled", lines=[morphine()]))
        assert r.status_code == 403 and "resident" in r.json()["detail"]
        assert (await issued(resident))["content"]["prescriber"]["role"] == "resident"  # standard is fine

        r = await doctor.post("/prescriptions/drafts", draft_body(category="chronic", valid_days=91))
        assert r.status_code == 422 and "at most 90 days" in r.json()["detail"]
        r = await doctor.post("/prescriptions/drafts", draft_body(category="chronic", valid_days=90))
        assert r.status_code == 201
        rx = await issued(doctor, category="standard")  # no validity asked: the category's maximum
        days = (rx["content"]["valid_until"][:10], rx["content"]["drafted_at"][:10])
        assert days[0] > days[1] and rx["content"]["dispensing"] == {"partial": True, "repeats": 1}

        for bad in ({"category": "homeopathy"}, {"diagnosis": "Z99.999"}, {"diagnosis": "J00-J06"},
                    {"patient_pinfl": "30211975910034"}, {"lines": []}, {"lines": [line(quantity=0)]},
                    {"lines": [line(quantity=1.5)]}):
            r = await doctor.post("/prescriptions/drafts", draft_body(**bad))
            assert r.status_code in (400, 422), (bad, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")

        controlled = await issued(doctor, category="controlled", lines=[morphine(quantity=10)])
        r = await dispense(pharmacist, controlled["number"], [item(quantity=5, medicine=MORPHINE)])
        assert r.status_code == 422 and "no partial dispensing" in r.json()["detail"]
        r = await dispense(pharmacist, controlled["number"], [item(quantity=10, medicine=MORPHINE)])
        assert r.status_code == 201 and r.json()["status"] == "dispensed"

        chronic = await issued(doctor, category="chronic", lines=[line(quantity=30)])  # 3 repeats
        for n in range(3):
            r = await dispense(pharmacist, chronic["number"], [item(quantity=30)])
            assert r.status_code == 201 and r.json()["lines"][0]["remaining"] == 60 - 30 * n
        assert (await dispense(pharmacist, chronic["number"], [item(quantity=30)])).status_code == 409


async def test_configured_categories(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    s = s.with_(extra={"erecipe": {"categories": {
        "antibiotic": {"max_validity_days": 10, "prescribers": ["doctor"], "partial": False}}}})
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        resident = await actor(client, signer, "resident")
        assert (await doctor.post("/prescriptions/drafts", draft_body())).status_code == 422  # no "standard"
        r = await doctor.post("/prescriptions/drafts", draft_body(category="antibiotic", valid_days=11))
        assert r.status_code == 422
        r = await resident.post("/prescriptions/drafts", draft_body(category="antibiotic"))
        assert r.status_code == 403
        rx = await issued(doctor, category="antibiotic")
        assert rx["content"]["dispensing"] == {"partial": False, "repeats": 1}


@pytest.mark.parametrize("bad", [
    {"x": {"max_validity_days": 0}},
    {"x": {"max_validity_days": 30, "prescribers": ["nurse"]}},
    {"x": {"max_validity_days": 30, "whatever": 1}},
    {"x": {"prescribers": ["doctor"]}},
])
def test_bad_category_configuration_is_named(bad: dict[str, object]) -> None:
    """Refused when the modules load (start-up), naming the field."""
    with pytest.raises(ConfigurationError, match="categories"):
        Modules.load(["medcard", "erecipe"], sections={"erecipe": {"categories": bad}})
    good = Modules.load(["medcard", "erecipe"], sections={}).settings("erecipe")
    assert isinstance(good, config.Settings) and good.categories == config.DEFAULTS
