"""Parse a FHIR search's query string, strictly.

Supported: ``identifier``, ``patient`` (``Patient/<id>`` or ``<id>``), ``date`` (repeatable, with
the prefixes of :mod:`host.fhir.dates`), ``code``, ``status``, plus ``_count`` (default 20, at
most 100: larger asks are cut to 100), ``_offset`` (paging) and ``_format`` (json only).
Unlike servers that ignore what they do not know, anything else - an unknown parameter, a
modifier (``code:text``), a parameter the type does not support, a repeated one, an OR list
(``a,b``) - is a 400 OperationOutcome: a search silently widened is worse than a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from host.fhir.dates import bad, bounds
from host.pluginapi import FhirQuery

SEARCH = ("identifier", "patient", "date", "code", "status")
CONTROL = ("_count", "_offset", "_format")
DEFAULT_COUNT, MAX_COUNT, MAX_OFFSET = 20, 100, 10_000
FORMATS = ("json", "application/json", "application/fhir+json")
ID = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")
MAX_TOKEN = 200


class Search(msgspec.Struct, frozen=True, kw_only=True):
    query: FhirQuery  # without ``patient``: the host resolves ``patient_id`` to a PINFL
    patient_id: str | None = None
    used: frozenset[str] = frozenset()  # the search parameters given
    count: int = DEFAULT_COUNT
    offset: int = 0
    echo: tuple[tuple[str, str], ...] = ()  # the search parameters, for the paging links


def _number(name: str, text: str, low: int, high: int | None) -> int:
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else -1
    if value < low or (high is not None and value > high):
        raise bad(f"{name} must be a whole number from {low}" + (f" to {high}" if high else ""))
    return value


def _token(name: str, text: str) -> str:
    if not text or len(text) > MAX_TOKEN or not text.isprintable() or "," in text:
        raise bad(f"{name} must be one token (system|value or value), without commas")
    return text


def patient_id(text: str) -> str:
    """The id of a ``patient`` reference: ``Patient/<id>`` or a bare ``<id>``."""
    found = text.removeprefix("Patient/")
    if not ID.match(found):
        raise bad("patient must be Patient/<id> or <id>")
    return found


def parse(items: Iterable[tuple[str, str]], supported: Iterable[str], *, search: bool = True) -> Search:
    """Check and read the query string; ``supported`` are the type's search parameters
    (``search=False``: an operation that takes only the control parameters)."""
    allowed = set(supported) if search else set()
    given: dict[str, list[str]] = {}
    for name, value in items:
        if name not in CONTROL and name not in SEARCH:
            raise bad(f"unknown search parameter {name!r}; this server knows "
                      f"{', '.join((*SEARCH, *CONTROL))}")
        if name in SEARCH and name not in allowed:
            raise bad(f"search parameter {name!r} is not supported here; supported: "
                      f"{', '.join(sorted(allowed)) or 'none'}")
        if name != "date" and name in given:
            raise bad(f"search parameter {name!r} is given twice")
        given.setdefault(name, []).append(value)
    first = {name: values[0] for name, values in given.items()}
    if "_format" in first and first["_format"] not in FORMATS:
        raise bad("this server answers in JSON only (_format=json)")
    count = DEFAULT_COUNT
    if "_count" in first:
        count = min(_number("_count", first["_count"], 1, None), MAX_COUNT)
    offset = _number("_offset", first["_offset"], 0, MAX_OFFSET) if "_offset" in first else 0
    since, until = bounds(given.get("date", []))
    query = FhirQuery(identifier=_token("identifier", first["identifier"]) if "identifier" in first else None,
                      code=_token("code", first["code"]) if "code" in first else None,
                      status=_token("status", first["status"]) if "status" in first else None,
                      since=since, until=until)
    echo = tuple((n, v) for n, values in given.items() if n in SEARCH for v in values)
    return Search(query=query, patient_id=patient_id(first["patient"]) if "patient" in first else None,
                  used=frozenset(n for n in given if n in SEARCH), count=count, offset=offset, echo=echo)
