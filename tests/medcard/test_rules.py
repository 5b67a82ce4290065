"""The pure rules: PINFL, ICD-10, LOINC check digits, lab flags, name folding, the late setting."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec
import pytest

from core import icd10, pinfl
from core.errors import ConfigurationError, ValidationFailed
from host.modules import Modules
from plugins.medcard import config, labs
from plugins.medcard.inputs import LabIn
from plugins.medcard.names import search_key


@pytest.mark.parametrize("value, born, sex", [("30211975910033", date(1997, 11, 2), "male"),
                                              ("32505900123459", date(1990, 5, 25), "male")])
def test_valid_pinfls(value: str, born: date, sex: str) -> None:
    assert pinfl.parse(value) == (born, sex)
    pinfl.validate(value, born, sex)


@pytest.mark.parametrize("value, field, words", [
    ("30211975910034", "pinfl", "check digit"),
    ("33102975910033", "pinfl", "not a valid date"),  # 31.02
    ("70211975910033", "pinfl", "digit 1"),
    ("3021197591003", "pinfl", "14 ASCII digits"),
    ("\u06630211975910033", "pinfl", "14 ASCII digits"),  # Arabic-Indic three
    ("\uff130211975910033", "pinfl", "14 ASCII digits"),  # full-width three
    ("30211975910033\n", "pinfl", "14 ASCII digits"),
])
def test_bad_pinfls_say_which_part(value: str, field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        pinfl.validate(value)
    assert words in err.value.detail and err.value.errors[0]["field"] == field


def test_future_birth_date_in_pinfl_is_refused() -> None:
    first13 = "5010199000000"  # 01.01.2099, a 2000s century digit
    with pytest.raises(ValidationFailed, match="future"):
        pinfl.parse(first13 + str(pinfl.check_digit(first13)))


def test_pinfl_must_agree_with_date_and_sex() -> None:
    with pytest.raises(ValidationFailed) as err:
        pinfl.validate("30211975910033", date(1997, 11, 3), "male")
    assert err.value.errors[0]["field"] == "birth_date"
    with pytest.raises(ValidationFailed) as err:
        pinfl.validate("30211975910033", date(1997, 11, 2), "female")
    assert err.value.errors[0]["field"] == "sex"


@pytest.mark.parametrize("raw, code", [("J06.9", "J06.9"), ("i10", "I10"), ("E119", "E11.9"),
                                       ("E11.9", "E11.9"), ("C34.1", "C34.1"), ("U07.1", "U07.1")])
def test_icd10_codes_of_the_who_list(raw: str, code: str) -> None:
    assert icd10.normalize(raw) == code
    assert icd10.description(code)


@pytest.mark.parametrize("raw", ["U99.9", "I10.0", "J06.99", "Z99.99", "J00-J06", "XXI", "J", "",
                                 "\u040806.9", "J06,9"])  # the last-but-one starts with a Cyrillic Je
def test_icd10_refuses_what_the_who_list_lacks(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        icd10.normalize(raw)


def test_loinc_check_digit() -> None:
    for code in ("8480-6", "2823-3", "718-7", "15074-8", "39156-5", "85354-9", "59408-5"):
        number, check = code.split("-")
        assert labs.loinc_check_digit(number) == int(check), code


def _lab(**kw: object) -> LabIn:
    return msgspec.convert({"test": "K", "performed_at": datetime.now().astimezone(), **kw}, LabIn)


@pytest.mark.parametrize("value, flag", [(2.5, "LL"), (3.0, "L"), (4.0, "N"), (5.5, "H"), (6.5, "HH")])
def test_lab_flag_uses_reference_and_known_critical_limits(value: float, flag: str) -> None:
    found = labs.normalize(_lab(loinc="2823-3", value=value, reference_low=3.5, reference_high=5.1))
    assert found.flag == flag and found.data["critical"] is (flag in ("LL", "HH"))
    assert found.data["unit"] == "mmol/L" and found.clinical_status == "final"


def test_lab_refusals_and_pending_orders() -> None:
    with pytest.raises(ValidationFailed, match="check digit"):
        labs.normalize(_lab(loinc="2823-4", value=4))
    with pytest.raises(ValidationFailed, match="mmol/L"):
        labs.normalize(_lab(loinc="2823-3", value=4, unit="mg/dL"))
    with pytest.raises(ValidationFailed, match="ordered"):
        labs.normalize(_lab(value=4, reference_low=5, reference_high=3))
    assert labs.normalize(_lab(loinc="2823-3")).clinical_status == "pending"
    assert labs.normalize(_lab(value=9, critical_high=8)).flag == "HH"  # the lab's own limit


def test_names_fold_apostrophes_and_case() -> None:
    assert search_key("O\u02bbrinboyev") == search_key("O'rinboyev") == search_key("o`RINBOYEV")
    assert search_key("Ғайратов") == search_key("ғайратов")


def test_late_after_setting() -> None:
    """Validated when the modules load (start-up), not when a request needs it."""
    def late_after(extra: dict[str, object]) -> timedelta:
        settings: config.Settings = Modules.load(["medcard"], sections=extra).settings("medcard")
        return settings.late_after

    assert late_after({}) == timedelta(hours=24)
    assert late_after({"medcard": {"late_after_hours": 2}}) == timedelta(hours=2)
    for bad in (0, -1, "2", True, 10**6):
        with pytest.raises(ConfigurationError, match="late_after_hours"):
            late_after({"medcard": {"late_after_hours": bad}})


def test_the_alert_service_gets_the_modules_settings():
    """Service factories with a ``settings`` parameter receive their module's section, so the
    escalation time an operator sets reaches the background sweep."""
    from plugins.medcard.plugin import ALERTS

    modules = Modules.load(["medcard"], sections={"medcard": {"alert_escalate_minutes": 5}})
    service = modules.services()[ALERTS](object())
    assert service.settings.alert_escalate_minutes == 5
    default = Modules.load(["medcard"]).services()[ALERTS](object())
    assert default.settings.alert_escalate_minutes == 30
