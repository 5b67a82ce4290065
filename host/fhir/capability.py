"""``/fhir/metadata``: the server's R5 CapabilityStatement, built from the served types."""

from __future__ import annotations

from typing import Any

from host.fhir.engine import sortable
from host.fhir.registry import Provider

VERSION = "0.2.0"
_PARAMS = {"identifier": "token", "patient": "reference", "date": "date", "code": "token", "status": "token",
           "family": "string", "birthdate": "date", "_lastUpdated": "date"}
_DOCS = {"patient": "Patient/<id> or <id>; a patient caller only their own",
         "date": "prefixes eq, ge, gt, le, lt; repeatable",
         "_lastUpdated": "meta.lastUpdated; prefixes eq, ge, gt, le, lt; repeatable",
         "identifier": "system|value or value", "code": "system|value or value",
         "family": "with birthdate (both or neither): the exact surname in any letter case and "
                   "apostrophe variant, in the script it was registered in",
         "birthdate": "with family: one exact date, YYYY-MM-DD"}
EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
FORMATS = ["json", "application/fhir+json", "application/json"]


def _versions(providers: list[Provider]) -> dict[str, Any]:
    """A type is versioned when every provider gives versions (they declare ``_lastUpdated``)."""
    versioned = all("_lastUpdated" in p.resource.params for p in providers)
    history = versioned and all(p.resource.history for p in providers)
    return {"versioning": "versioned" if versioned else "no-version", "readHistory": history,
            "conditionalRead": "not-match" if versioned else "not-supported"}


def _resource(type_: str, providers: list[Provider]) -> dict[str, Any]:
    params = sorted({p for provider in providers for p in provider.resource.params})
    sorts = sorted(sortable(providers))
    versions = _versions(providers)
    vread = [{"code": "vread", "documentation": "every versionId of the resource" if versions["readHistory"]
              else "its current versionId only"}] if versions["versioning"] == "versioned" else []
    out: dict[str, Any] = {
        "type": type_, "interaction": [{"code": "read"}, *vread, {"code": "search-type"}]
        + ([{"code": "create", "documentation": "in a transaction Bundle (POST /fhir)"}]
           if any(p.resource.create for p in providers) else []),
        **versions,
        "searchParam": [{"name": name, "type": _PARAMS[name], **({"documentation": _DOCS[name]}
                                                              if name in _DOCS else {})}
                        for name in params if name in _PARAMS]}
    keys = [f"{d}{k}" for k in sorts for d in ("", "-")]
    out["documentation"] = "_sort: " + (", ".join(keys) if keys else "none (newest first)")
    profiles = sorted({p.resource.profile for p in providers if p.resource.profile})
    if profiles:
        out["supportedProfile"] = profiles
    if type_ == "Patient":
        out["operation"] = [{"name": "everything", "definition": EVERYTHING}]
    return out


def statement(by_type: dict[str, list[Provider]], base: str, date: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": date, "kind": "instance",
        "publisher": "Shifo", "fhirVersion": "5.0.0", "format": FORMATS,
        "software": {"name": "Shifo", "version": VERSION},
        "implementation": {"description": "Shifo FHIR R5 facade", "url": base},
        "rest": [{
            "mode": "server",
            "documentation": "Search parameters and _sort keys not listed for a type are refused (400), not "
                             "ignored. Paging: _count (default 20, at most 100) and _offset. _summary=count "
                             "answers the total only. Reads carry ETag W/\"<versionId>\" and Last-Modified; "
                             "If-None-Match with the current version answers 304. JSON only: an Accept "
                             "admitting neither application/fhir+json nor application/json is a 406 "
                             "(unless _format=json).",
            "security": {"description": "Bearer token. Staff send X-Facility and read what their roles "
                                        "allow where the module is installed; patients read their own "
                                        "record only."},
            "resource": [_resource(t, providers) for t, providers in sorted(by_type.items())],
            "interaction": [{"code": "transaction", "documentation": "POST /fhir: creates only, all or "
                             "nothing; each entry needs the native record permission"}],
        }],
    }
