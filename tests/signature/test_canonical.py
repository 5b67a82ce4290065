"""Canonical JSON is one spelling per value; the strict reader refuses what lenient parsers hide."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from core.canonical import canonical_json, is_canonical, parse_strict_json
from core.errors import ValidationFailed


class Item(msgspec.Struct):
    drug: str
    dose: Decimal
    on: dt.date


def test_sorted_compact_utf8() -> None:
    expected = '{"A":{},"a":[true,null,"ё"],"b":1}'.encode()
    assert canonical_json({"b": 1, "a": [True, None, "ё"], "A": {}}) == expected
    assert canonical_json(Item("x", Decimal("0.5"), dt.date(2026, 1, 2))) == \
        b'{"dose":"0.5","drug":"x","on":"2026-01-02"}'


def test_keys_sort_by_utf16_code_units_as_rfc8785() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB01 (code-point order says the opposite)
    assert canonical_json({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()


def test_escapes_only_what_json_requires() -> None:
    assert canonical_json({"s": 'q"\\\n\x01/é'}) == b'{"s":"q\\"\\\\\\n\\u0001/\xc3\xa9"}'


@pytest.mark.parametrize("value", [1.5, float("nan"), 2**60, -(2**53), "\ud800"])
def test_values_without_one_spelling_are_refused(value) -> None:
    with pytest.raises(ValidationFailed):
        canonical_json({"v": value})


@pytest.mark.parametrize("data, words", [
    (b'{"dose": 1, "dose": 100}', "duplicate key 'dose'"),
    (b'{"a": {"b": 1, "b": 2}}', "duplicate key 'b'"),
    (b'[NaN]', "NaN"),
    (b'{"a": Infinity}', "Infinity"),
    (b'{"a": "\xff"}', "not UTF-8"),
    (b'{"a": ', "not JSON"),
    (b"[" * 100000 + b"]" * 100000, "nested"),
])
def test_strict_reader_refuses(data: bytes, words: str) -> None:
    with pytest.raises(ValidationFailed, match=words) as caught:
        parse_strict_json(data)
    assert caught.value.status == 422


def test_round_trip_and_canonical_check() -> None:
    obj = {"patient": "30101901234569", "items": [{"drug": "Paracetamol", "qty": 2}]}
    data = canonical_json(obj)
    assert parse_strict_json(data) == obj and is_canonical(data)
    for spelling in (b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1.0}', b'{"a":1,"a":1}'):
        assert not is_canonical(spelling)
