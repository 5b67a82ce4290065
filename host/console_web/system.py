"""The System page: adapters in use, database and message-bus health, the event backlog and
parked deliveries (retry), and the audit chain's last verification (verify now).

The actions are the ``shifo`` command's: *retry* is ``shifo events retry`` (the storage port's
``outbox.retry``), *verify* is ``shifo audit verify`` (walk the chains, check them against the
keyed checkpoints, checkpoint the verified heads). Each leaves an audit entry with its outcome.
"""

from __future__ import annotations

import asyncio

import msgspec
from litestar import get, post
from litestar.response import Redirect, Template

from core.errors import ValidationFailed
from host import audit, audit_anchor, audit_key
from host.console_web import system_state
from host.console_web.pages import Req, form, op, page, redirect
from host.operator.web import entry, runtime


@get("/system", opt=op("system", "read"), include_in_schema=False)
async def system_page(request: Req) -> Template:
    rt = runtime(request)
    probes, backlog, (parked_total, parked), audit_state = await asyncio.gather(
        system_state.health(rt), system_state.backlog(rt), system_state.parked(rt),
        system_state.audit_state(rt))
    return page(request, "system.html.j2", nav="system", adapters=system_state.adapters(rt), probes=probes,
                backlog=backlog, parked=parked, parked_total=parked_total, audit=audit_state)


@post("/system/retry", opt=op("events", "retry"), include_in_schema=False, status_code=303)
async def retry_parked(request: Req) -> Redirect:
    """Re-queue the chosen parked deliveries (``seq``, repeatable), or all of them (``all``)."""
    data = await form(request)
    try:
        seqs = sorted({int(s) for s in data.getall("seq", [])})
    except ValueError:
        raise ValidationFailed("seq: a delivery's number",
                               errors=[{"field": "seq", "message": "not a number"}]) from None
    every = data.get("all") == "1"
    if not seqs and not every:
        return redirect("/console/system", "Choose the deliveries to retry.")
    rt = runtime(request)
    count = await rt.storage.outbox.retry(None if every else seqs)
    async with rt.storage.transaction() as tx:
        await audit.record(tx, msgspec.structs.replace(
            entry(request, "events/retry"), object="all" if every else ",".join(map(str, seqs))[:300],
            detail=f"re-queued {count} parked deliveries"))
    return redirect("/console/system", "Parked deliveries re-queued.")


@post("/system/verify", opt=op("audit", "verify"), include_in_schema=False, status_code=303)
async def verify_audit(request: Req) -> Redirect:
    """Verify the audit trail now, as ``shifo audit verify`` does; the result is its audit entry."""
    await form(request)
    rt = runtime(request)
    key = audit_key.key_of(rt.settings)
    report = await audit.verify(rt.storage)
    if key is not None:
        report, tip = await audit_anchor.anchor(rt.storage, key, report)
        if report.ok:
            await audit_anchor.checkpoint(rt.storage, key, tip, report.heads)
    found = "; ".join(f"chain {f.chain} {f.problem} at {f.seq}" for f in report.findings)
    detail = (f"{report.entries} entries in {len(report.heads)} chains"
              f"{'' if key else ', not anchored (no audit key)'}" + (f"; {found}" if found else ""))
    async with rt.storage.transaction() as tx:
        await audit.record(tx, msgspec.structs.replace(
            entry(request, "audit/verify"), object="audit trail", outcome="ok" if report.ok else "broken",
            detail=detail[:500]))
    return redirect("/console/system", "Audit trail intact." if report.ok else
                    "Audit trail BROKEN: run shifo audit verify for the findings.")


HANDLERS = [system_page, retry_parked, verify_audit]
