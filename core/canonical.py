"""Canonical JSON: the exact bytes a person signs, and a strict reader for signed JSON.

A signature covers bytes, not meaning, so the signed form must be one spelling per value:
keys sorted (by UTF-16 code units, as RFC 8785 does), no whitespace, UTF-8, strings escaped only
where JSON requires. Numbers are integers within the IEEE-754 safe range; send decimals as strings,
because float spelling differs between languages and a browser must produce the same bytes.

The reader refuses what a lenient parser would quietly resolve: duplicate keys (msgspec and the
stdlib keep the last one, so a signer could be shown one value and the server read another),
NaN/Infinity and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from core.errors import ValidationFailed

_SAFE_INT = 2**53 - 1


def _fail(detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": "content", "message": detail}])


def _normalise(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key in sorted(value, key=lambda k: str(k).encode("utf-16-be", "surrogatepass")):
            if not isinstance(key, str):
                raise _fail(f"{path}: object keys must be strings, got {type(key).__name__}")
            out[key] = _normalise(value[key], f"{path}.{key}")
        return out
    if isinstance(value, list):
        return [_normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) > _SAFE_INT:
            raise _fail(f"{path}: integer {value} is outside the safe range; send it as a string")
        return value
    if isinstance(value, float):
        raise _fail(f"{path}: floating-point numbers have no single spelling; send {value!r} as a string")
    raise _fail(f"{path}: {type(value).__name__} has no JSON form")


def canonical_json(obj: Any) -> bytes:
    """The canonical bytes of ``obj`` (plain JSON values, msgspec Structs, dates, UUIDs, Decimals)."""
    plain = msgspec.to_builtins(obj, str_keys=True)
    text = json.dumps(_normalise(plain, "$"), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail("text contains an unpaired surrogate, which UTF-8 cannot carry") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _fail(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _fail(f"{name} is not a JSON number")


def parse_strict_json(data: bytes) -> Any:
    """Parse JSON bytes, refusing duplicate keys, NaN/Infinity and non-UTF-8 input (422)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"content is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _fail(f"content is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _fail("content is nested too deeply") from None


def is_canonical(data: bytes) -> bool:
    """True when ``data`` is strict JSON already in canonical form (what a signer must have signed)."""
    try:
        return canonical_json(parse_strict_json(data)) == data
    except ValidationFailed:
        return False
