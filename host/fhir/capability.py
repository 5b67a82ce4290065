"""``/fhir/metadata``: the server's R5 CapabilityStatement, built from the served types."""

from __future__ import annotations

from typing import Any

from host.fhir.registry import Provider

VERSION = "0.2.0"
_PARAMS = {"identifier": "token", "patient": "reference", "date": "date", "code": "token", "status": "token"}
_DOCS = {"patient": "Patient/<id> or <id>; a patient caller only their own",
         "date": "prefixes eq, ge, gt, le, lt; repeatable",
         "identifier": "system|value or value", "code": "system|value or value"}
EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"


def _resource(type_: str, providers: list[Provider]) -> dict[str, Any]:
    params = sorted({p for provider in providers for p in provider.resource.params})
    out: dict[str, Any] = {
        "type": type_, "interaction": [{"code": "read"}, {"code": "search-type"}]
        + ([{"code": "create", "documentation": "in a transaction Bundle (POST /fhir)"}]
           if any(p.resource.create for p in providers) else []),
        "searchParam": [{"name": name, "type": _PARAMS[name], **({"documentation": _DOCS[name]}
                                                              if name in _DOCS else {})}
                        for name in params if name in _PARAMS]}
    profiles = sorted({p.resource.profile for p in providers if p.resource.profile})
    if profiles:
        out["supportedProfile"] = profiles
    if type_ == "Patient":
        out["operation"] = [{"name": "everything", "definition": EVERYTHING}]
    return out


def statement(by_type: dict[str, list[Provider]], base: str, date: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": date, "kind": "instance",
        "publisher": "Shifo", "fhirVersion": "5.0.0", "format": ["json"],
        "software": {"name": "Shifo", "version": VERSION},
        "implementation": {"description": "Shifo FHIR R5 facade", "url": base},
        "rest": [{
            "mode": "server",
            "documentation": "Search parameters not listed for a type are refused (400), not ignored. "
                             "Paging: _count (default 20, at most 100) and _offset.",
            "security": {"description": "Bearer token. Staff send X-Facility and read what their roles "
                                        "allow where the module is installed; patients read their own "
                                        "record only."},
            "resource": [_resource(t, providers) for t, providers in sorted(by_type.items())],
            "interaction": [{"code": "transaction", "documentation": "POST /fhir: creates only, all or "
                             "nothing; each entry needs the native record permission"}],
        }],
    }
