"""FHIR ``date`` search values (``ge2024-01-01``, ``lt2024-02-01T10:00:00+05:00``) as bounds.

A value stands for the whole range of its precision (a year, month, day, minute, second or
microsecond); the prefix compares against that range: ``eq`` inside it, ``ge``/``gt`` from its
start/end, ``le``/``lt`` to its end/start. Dates without a time, and date-times without a zone,
are read in UTC. Several values narrow the window (all must hold). ``until`` is exclusive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from litestar.exceptions import ClientException

PREFIXES = ("eq", "ge", "gt", "le", "lt")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T(\d{2}:\d{2})(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$")


def bad(detail: str) -> ClientException:
    return ClientException(detail, status_code=400)


def _range(text: str) -> tuple[datetime, datetime]:
    """The [start, end) range a FHIR date, dateTime or instant stands for."""
    try:
        if m := _DATE.match(text):
            year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
            start = datetime(year, month, day, tzinfo=UTC)
            if m[3]:
                return start, start + timedelta(days=1)
            if m[2]:
                return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return start, datetime(year + 1, 1, 1, tzinfo=UTC)
        if m := _TIME.match(text):
            start = datetime.fromisoformat(text.replace("Z", "+00:00"))
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            step = (timedelta(microseconds=1) if m[3] else timedelta(seconds=1) if m[2]
                    else timedelta(minutes=1))
            return start, start + step
    except (ValueError, OverflowError):
        pass
    raise bad(f"date value {text!r} is not a FHIR date, dateTime or instant")


def bounds(values: list[str]) -> tuple[datetime | None, datetime | None]:
    """``(since, until)`` from every ``date`` value of a search."""
    since: datetime | None = None
    until: datetime | None = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in PREFIXES:
            raise bad(f"date prefix {prefix!r} is not supported; use one of {', '.join(PREFIXES)}")
        start, end = _range(text)
        low = {"eq": start, "ge": start, "gt": end}.get(prefix)
        high = {"eq": end, "le": end, "lt": start}.get(prefix)
        if low is not None:
            since = low if since is None else max(since, low)
        if high is not None:
            until = high if until is None else min(until, high)
    return since, until
