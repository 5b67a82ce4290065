"""Search results as a FHIR R5 ``searchset`` Bundle, paged by offset.

Items of every provider are merged newest first (``when`` descending, undated last), then by
type and id, so pages are stable and never repeat an item; a resource two providers both serve
(erecipe's prescriptions, to a caller who may use both) is kept once, as the first one gave it.
``total`` is given only when the answer is complete (no next page), because providers are asked
for one page's worth only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from host.fhir.versions import stamped
from host.pluginapi import FhirItem


def order_key(item: FhirItem) -> tuple[bool, float, str, str]:
    when = item.when
    stamp = 0.0
    if when is not None:
        stamp = -(when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    r = item.resource
    return when is None, stamp, str(r.get("resourceType", "")), str(r.get("id", ""))


def merged(items: list[FhirItem], key: Callable[[FhirItem], Any] = order_key) -> list[FhirItem]:
    """Each resource once, in ``key`` order (default newest first; ``_sort``: see
    :func:`host.fhir.versions.sort_key`)."""
    first: dict[tuple[str, str], FhirItem] = {}
    for item in items:
        first.setdefault((str(item.resource.get("resourceType")), str(item.resource.get("id"))), item)
    return sorted(first.values(), key=key)


def full_url(base: str, resource: dict[str, Any]) -> str:
    return f"{base}/{resource.get('resourceType')}/{resource.get('id')}"


def searchset(base: str, path: str, found: list[FhirItem], *, offset: int, count: int,
              echo: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """One page of ``found`` (all matches up to at least ``offset + count + 1``, merged).

    ``base`` is the absolute URL of ``/fhir``; ``path`` the search's own, below it."""
    page = found[offset: offset + count]
    more = len(found) > offset + count

    def link(relation: str, at: int) -> dict[str, str]:
        query = urlencode([*echo, ("_count", str(count)), ("_offset", str(at))])
        return {"relation": relation, "url": f"{base}{path}?{query}"}

    links = [link("self", offset)]
    if more:
        links.append(link("next", offset + count))
    if offset:
        links.append(link("previous", max(0, offset - count)))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if not more and (page or offset == 0):
        bundle["total"] = offset + len(page)
    bundle["link"] = links
    bundle["entry"] = [{"fullUrl": full_url(base, i.resource), "resource": stamped(i),
                        "search": {"mode": "match"}} for i in page]
    return bundle


def counted(base: str, path: str, total: int, echo: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """``_summary=count``: the number of matches, no entries."""
    query = urlencode([*echo, ("_summary", "count")])
    return {"resourceType": "Bundle", "type": "searchset", "total": total,
            "link": [{"relation": "self", "url": f"{base}{path}?{query}"}]}
