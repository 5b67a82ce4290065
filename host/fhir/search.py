"""Parse a FHIR search's query string, strictly.

Supported: ``identifier``, ``patient`` (``Patient/<id>`` or ``<id>``), ``date`` and ``_lastUpdated``
(repeatable, with the prefixes of :mod:`host.fhir.dates`), ``code``, ``status``, ``family`` with
``birthdate`` (both or neither; the birth date exact, ``YYYY-MM-DD``), plus ``_count`` (default 20,
at most 100: larger asks are cut to 100), ``_offset`` (paging), ``_sort`` (``date``, ``-date``,
``_lastUpdated``, ``-_lastUpdated``: one key the type's providers order by), ``_summary``
(``count``: the total only; ``false``: the default) and ``_format`` (json only).
Unlike servers that ignore what they do not know, anything else - an unknown parameter, a
modifier (``code:text``), a parameter or sort key the type does not support, a repeated one, an
OR list (``a,b``) - is a 400 OperationOutcome: a search silently widened is worse than a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import msgspec

from host.fhir.dates import bad, bounds
from host.fhir.versions import SORTS
from host.pluginapi import FhirQuery

SEARCH = ("identifier", "patient", "date", "code", "status", "family", "birthdate", "_lastUpdated")
CONTROL = ("_count", "_offset", "_format", "_sort", "_summary")
REPEATABLE = ("date", "_lastUpdated")
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
    echo: tuple[tuple[str, str], ...] = ()  # the search parameters and _sort, for the paging links
    sort: str | None = None  # the ``_sort`` asked for (None: the default, newest date first)
    summary: bool = False  # ``_summary=count``


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


def _birthdate(text: str) -> date:
    day = text.removeprefix("eq")
    try:
        if len(day) == 10:
            return date.fromisoformat(day)
    except ValueError:
        pass
    raise bad("birthdate must be one exact date, YYYY-MM-DD")


def _family(text: str) -> str:
    if not text.strip() or len(text) > 100 or not text.isprintable() or "," in text:
        raise bad("family must be one surname (at most 100 characters, without commas)")
    return text.strip()


def _sort(text: str, sortable: set[str]) -> str:
    if text not in SORTS:
        raise bad(f"_sort {text!r} is not supported; use one of {', '.join(SORTS)}")
    if SORTS[text] not in sortable:
        raise bad(f"_sort {text!r} is not supported here; sort keys: {', '.join(sorted(sortable)) or 'none'}")
    return text


def parse(items: Iterable[tuple[str, str]], supported: Iterable[str], *, search: bool = True,
          sortable: Iterable[str] = ()) -> Search:
    """Check and read the query string; ``supported`` are the type's search parameters and
    ``sortable`` its sort keys (``search=False``: an operation that takes only the paging parameters)."""
    allowed = set(supported) if search else set()
    given: dict[str, list[str]] = {}
    for name, value in items:
        if name not in CONTROL and name not in SEARCH:
            raise bad(f"unknown search parameter {name!r}; this server knows "
                      f"{', '.join((*SEARCH, *CONTROL))}")
        if name in SEARCH and name not in allowed:
            raise bad(f"search parameter {name!r} is not supported here; supported: "
                      f"{', '.join(sorted(allowed)) or 'none'}")
        if not search and name in ("_sort", "_summary"):
            raise bad(f"{name} is not supported here")
        if name not in REPEATABLE and name in given:
            raise bad(f"search parameter {name!r} is given twice")
        given.setdefault(name, []).append(value)
    first = {name: values[0] for name, values in given.items()}
    if "_format" in first and first["_format"] not in FORMATS:
        raise bad("this server answers in JSON only (_format=json)")
    count = DEFAULT_COUNT
    if "_count" in first:
        count = min(_number("_count", first["_count"], 1, None), MAX_COUNT)
    offset = _number("_offset", first["_offset"], 0, MAX_OFFSET) if "_offset" in first else 0
    if ("family" in first) != ("birthdate" in first):
        raise bad("family and birthdate go together: give both (surname and exact birth date) or neither")
    if first.get("_summary", "false") not in ("count", "false"):
        raise bad("_summary supports count (the total only) and false")
    sort = _sort(first["_sort"], set(sortable)) if "_sort" in first else None
    since, until = bounds(given.get("date", []))
    updated_since, updated_until = bounds(given.get("_lastUpdated", []))
    query = FhirQuery(identifier=_token("identifier", first["identifier"]) if "identifier" in first else None,
                      code=_token("code", first["code"]) if "code" in first else None,
                      status=_token("status", first["status"]) if "status" in first else None,
                      since=since, until=until, updated_since=updated_since, updated_until=updated_until,
                      sort=sort or "-date", family=_family(first["family"]) if "family" in first else None,
                      birthdate=_birthdate(first["birthdate"]) if "birthdate" in first else None)
    echo = tuple((n, v) for n, values in given.items() if n in SEARCH or n == "_sort" for v in values)
    return Search(query=query, patient_id=patient_id(first["patient"]) if "patient" in first else None,
                  used=frozenset(n for n in given if n in SEARCH), count=count, offset=offset, echo=echo,
                  sort=sort, summary=first.get("_summary") == "count")
