"""Is this JSON body clean? Pure checks, no I/O: the parts of a body Litestar would choke on.

Refused with 400: invalid UTF-8 (a UnicodeDecodeError in msgspec), nesting deeper than
:data:`MAX_DEPTH` (a RecursionError), bad syntax, duplicate keys (msgspec silently keeps the last),
NaN/Infinity, integers of thousands of digits, NUL characters and unpaired surrogates (PostgreSQL
refuses both in text). Refused with 422: a body that does not fit the route's type, decoded
strictly (Litestar's own ``convert(strict=False)`` would turn the *string* "nan" into a float).
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from core.errors import ShifoError, ValidationFailed

MAX_DEPTH = 32


class MalformedBody(ShifoError):
    status = 400
    title = "Malformed request body"


class _Refused(ValueError):
    """Raised from the JSON parser's hooks; its text is the problem's detail."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"the key {key[:60]!r} appears more than once in one object")
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number; send a finite number or null")


_PARSER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant)
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")
_MISSING = re.compile(r"Object missing required field `(.+)`$")


def _too_deep(body: bytes, limit: int) -> bool:
    if body.count(b"[") + body.count(b"{") <= limit:  # the common case costs two C scans
        return False
    depth = 0
    for ch in _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        depth = depth + 1 if ch in _OPENERS else depth - 1
        if depth > limit:
            return True
    return False


def _bad_string(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a string contains a NUL character (\\u0000)"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string contains an unpaired UTF-16 surrogate (such as \\ud800)"
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _pointer(path: str) -> tuple[str, str]:
    """msgspec's ``$.items[0].code`` as a dotted field and an RFC 6901 pointer."""
    parts = [name or index for name, index in re.findall(r"\.([^.\[]+)|\[([^\]]*)\]", path)]
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts)
    return ".".join(parts), "#/" + "/".join(escaped)


def inspect_json(body: bytes, decoder: msgspec.json.Decoder[Any] | None = None) -> None:
    """Raise a 400 for a body that is not clean JSON, a 422 if it does not fit ``decoder``'s type."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not valid UTF-8 (byte {exc.start})") from None
    if _too_deep(body, MAX_DEPTH):
        raise MalformedBody(f"the body nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        value = _PARSER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, "
                            f"column {exc.colno})") from None
    except _Refused as exc:
        raise MalformedBody(str(exc)) from None
    except (ValueError, RecursionError):  # an integer of more than 4,300 digits
        raise MalformedBody("a number in the body has far too many digits") from None
    # NUL and surrogates need a \u escape (find, not "in": bytes' "in" first tries an int, and fails)
    if body.find(b"\\u") >= 0 and (bad := _bad_string(value)):
        raise MalformedBody(bad)
    if decoder is None:
        return
    try:
        decoder.decode(body)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `")
        path = path.rstrip("`") or "$"
        if missing := _MISSING.match(message):
            path += f".{missing.group(1)}"
        field, pointer = _pointer(path)
        where = f" at {field}" if field else ""
        raise ValidationFailed(f"the body does not fit the expected shape{where}: {message}",
                               errors=[{"field": field, "pointer": pointer, "message": message}]) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
