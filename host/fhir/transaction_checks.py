"""What a transaction Bundle must pass before anything is written (see :mod:`host.fhir.transaction`):
the Bundle as FHIR R5 (400), each entry's request (422) and each entry's write permission (403,
audited), decided for the whole Bundle first so a mix the caller may not send is refused whole."""

from __future__ import annotations

from typing import Any

from host import audit
from host.fhir.access import log
from host.fhir.engine import Call
from host.fhir.outcome import outcome
from host.fhir.registry import Provider

MAX_ENTRIES = 100
_CONDITIONAL = ("ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince")


class Refused(Exception):
    """The Bundle is refused: ``status`` and an OperationOutcome naming where."""

    def __init__(self, status: int, diagnostics: str, *expressions: str, code: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.outcome = outcome(status, diagnostics)
        issue = self.outcome["issue"][0]
        if code:
            issue["code"] = code
        if expressions:
            issue["expression"] = list(expressions)


def at(i: int, field: str = "") -> str:
    return f"Bundle.entry[{i}]" + (f".{field}" if field else "")


def checked(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of a valid R5 ``transaction`` Bundle (else 400 naming the elements)."""
    from fhir.resources.bundle import Bundle  # loaded on first use: 0.3 s of models
    from pydantic import ValidationError

    if body.get("resourceType") != "Bundle":
        raise Refused(400, "send a Bundle of type transaction (resourceType Bundle)", "Bundle.resourceType")
    if isinstance(body.get("entry"), list) and len(body["entry"]) > MAX_ENTRIES:  # before the costly part
        raise Refused(400, f"a transaction carries 1 to {MAX_ENTRIES} entries", "Bundle.entry")
    try:
        Bundle.model_validate(body)
    except ValidationError as e:
        errors = e.errors()[:10]
        raise Refused(400, "not a valid FHIR R5 Bundle: " + "; ".join(
            f"{_path(err['loc'])}: {err['msg']}" for err in errors), *(_path(err["loc"]) for err in errors)
        ) from None
    except LookupError as e:  # fhir.resources looks the model of a resourceType up by name
        raise Refused(400, f"not a valid FHIR R5 Bundle: an unknown resourceType ({str(e)[:80]})") from None
    except (ValueError, TypeError) as e:  # a model's own check, outside pydantic's
        raise Refused(400, f"not a valid FHIR R5 Bundle: {str(e)[:300]}") from None
    if body.get("type") != "transaction":
        raise Refused(400, f"Bundle type {body.get('type')!r} is not accepted here: send a transaction "
                      "(batch and other types are not supported)", "Bundle.type", code="not-supported")
    found: list[dict[str, Any]] = body.get("entry") or []
    if not 1 <= len(found) <= MAX_ENTRIES:
        raise Refused(400, f"a transaction carries 1 to {MAX_ENTRIES} entries", "Bundle.entry")
    return found


def _path(loc: tuple[Any, ...]) -> str:
    out = "Bundle"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


async def _allowed(call: Call, provider: Provider) -> bool:
    who, r = call.who, provider.resource
    if who.facility is None or provider.module is None or not r.write_object or not r.write_action:
        return False
    roles = who.principal.roles_at(who.facility)
    allows = call.runtime.authorizer.allows
    return (bool(roles) and allows(roles, who.facility, r.write_object, r.write_action)
            and await call.runtime.module_enabled(who.facility, provider.module))


async def may_write(call: Call, by_type: dict[str, list[Provider]]) -> None:
    """Before the body is looked at: the caller may create some type here (else 403, audited), as
    the guard refuses a native record route to a role without its permission."""
    writers = [p for ps in by_type.values() for p in ps if p.resource.create is not None]
    for provider in writers:
        if await _allowed(call, provider):
            return
    names = ", ".join(dict.fromkeys(f"{p.resource.write_object}/{p.resource.write_action}" for p in writers))
    detail = f"your roles at {call.who.facility} allow no FHIR create ({names or 'none is served'})"
    await _audit_refusal(call, "fhir.transaction/post", detail)
    raise Refused(403, detail)


async def planned(call: Call, by_type: dict[str, list[Provider]],
                  found: list[dict[str, Any]]) -> list[Provider]:
    """The writer of each entry (422 if none, 403 if the caller may use none: audited)."""
    writable = sorted(t for t, ps in by_type.items() if any(p.resource.create for p in ps))
    out: list[Provider] = []
    for i, entry in enumerate(found):
        request, resource = entry.get("request") or {}, entry.get("resource")
        if request.get("method") != "POST":
            raise Refused(422, "only creates (request.method POST) are supported in a transaction",
                          at(i, "request.method"), code="not-supported")
        type_ = resource.get("resourceType") if resource else None
        if not isinstance(type_, str):
            raise Refused(422, "a create carries the resource, with its resourceType", at(i, "resource"))
        if str(request.get("url", "")).strip("/") != type_:
            raise Refused(422, f"request.url must be the resource's type ({type_})", at(i, "request.url"))
        extra = [k for k in _CONDITIONAL if request.get(k)]
        if extra:
            raise Refused(422, f"conditional requests ({extra[0]}) are not supported",
                          at(i, f"request.{extra[0]}"), code="not-supported")
        writers = [p for p in by_type.get(type_, []) if p.resource.create is not None]
        if not writers:
            raise Refused(422, f"{type_} cannot be created here; writable types: {', '.join(writable)}",
                          at(i, "resource"), code="not-supported")
        usable = [p for p in writers if await _allowed(call, p)]
        if not usable:
            names = ", ".join(dict.fromkeys(f"{p.resource.write_object}/{p.resource.write_action}"
                                            for p in writers))
            detail = (f"Bundle.entry[{i}] ({type_}): your roles at {call.who.facility} do not allow {names}, "
                      "or the module is not installed there; nothing was written")
            await _audit_refusal(call, names, detail)
            raise Refused(403, detail, at(i, "resource"))
        out.append(usable[0])
    return out


async def _audit_refusal(call: Call, action: str, detail: str) -> None:
    who = call.who
    item = audit.entry(who.principal, action, facility=who.facility, object="POST /fhir",
                       outcome="denied:403", detail=detail, request_id=who.request_id, client=who.client)
    try:
        async with call.runtime.storage.transaction() as tx:
            await audit.record(tx, item)
    except Exception:
        log.exception("could not audit a refused transaction")
