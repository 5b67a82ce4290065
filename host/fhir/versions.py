"""Versions as FHIR clients expect them: ``meta``, the ETag, ``If-None-Match`` and ``_sort`` keys.

Providers say what they keep (``FhirItem.version`` and ``updated``); the host alone writes it into
``meta.versionId``/``meta.lastUpdated`` and the ``ETag: W/"<versionId>"`` and ``Last-Modified``
headers, so the body and the headers never disagree. A provider that keeps no version leaves the
resource without them (and the read without an ETag).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from host.pluginapi import FhirItem

#: ``_sort`` values -> the key a provider must declare in ``FhirResource.sorts``
SORTS = {"date": "date", "-date": "date", "_lastUpdated": "_lastUpdated", "-_lastUpdated": "_lastUpdated"}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def stamped(item: FhirItem) -> dict[str, Any]:
    """The resource with ``meta.versionId``/``meta.lastUpdated`` from the item (a copy; other
    ``meta`` elements, such as ``profile``, kept)."""
    if item.version is None and item.updated is None:
        return item.resource
    meta = dict(item.resource.get("meta") or {})
    if item.version is not None:
        meta["versionId"] = item.version
    if item.updated is not None:
        meta["lastUpdated"] = _utc(item.updated).isoformat()
    out: dict[str, Any] = {}
    for key, value in item.resource.items():  # meta right after id, where FHIR JSON shows it
        if key != "meta":
            out[key] = value
        if key == "id":
            out["meta"] = meta
    out.setdefault("meta", meta)
    return out


def headers(item: FhirItem) -> dict[str, str]:
    """``ETag`` and ``Last-Modified`` of a read, as far as the item knows them."""
    out: dict[str, str] = {}
    if item.version is not None:
        out["ETag"] = f'W/"{item.version}"'
    if item.updated is not None:
        out["Last-Modified"] = format_datetime(_utc(item.updated).astimezone(UTC), usegmt=True)
    return out


def not_modified(if_none_match: str | None, item: FhirItem) -> bool:
    """``If-None-Match`` names the item's current version (weak comparison, or ``*``)."""
    if not if_none_match or item.version is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or f'"{item.version}"' in tags


def sort_key(sort: str) -> Callable[[FhirItem], tuple[bool, float, str, str]]:
    """The merge order of a search: by the date or ``_lastUpdated``, descending with ``-``; items
    without one last; ties by type and id, so pages are stable."""
    by_updated, descending = sort.lstrip("-") == "_lastUpdated", sort.startswith("-")

    def key(item: FhirItem) -> tuple[bool, float, str, str]:
        when = item.updated if by_updated else item.when
        stamp = 0.0 if when is None else _utc(when).timestamp()
        r = item.resource
        type_, id_ = str(r.get("resourceType", "")), str(r.get("id", ""))
        return when is None, -stamp if descending else stamp, type_, id_

    return key
