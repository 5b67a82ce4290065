"""``POST /patients/{id}/examinations``: an examination's entries in one request and one transaction.

The route's own permission (``medcard.examination``/``record``) only admits the clinical roles
that record anything; each entry still needs its kind's permission (``medcard.<kind>``/``record``),
asked with ``ctx.may``. A body holding any entry the caller may not record is refused whole (403,
naming every such entry) before anything is read or written, and the refusal is audited.
"""

from __future__ import annotations

import logging
from uuid import UUID

from litestar import Controller, post
from litestar.params import JSONBody

from core.errors import Forbidden
from host.pluginapi import Ctx, requires
from plugins.medcard import entries, examinations
from plugins.medcard.api import author, late_after
from plugins.medcard.entry_routes import Id
from plugins.medcard.examinations import Examination
from plugins.medcard.inputs import ExaminationIn
from ports.storage import Transaction

log = logging.getLogger("shifo.medcard")


async def admit(ctx: Ctx, patient_id: UUID, data: ExaminationIn) -> None:
    """Refuse the whole body (403) if the caller may not record any one of its entries' kinds."""
    allowed: dict[str, bool] = {}
    refused: list[tuple[int, str]] = []
    for index, entry in enumerate(data.entries):
        kind = entries.kind_of(entry)
        if kind not in allowed:
            allowed[kind] = await ctx.may(f"medcard.{kind}", "record")
        if not allowed[kind]:
            refused.append((index, kind))
    if not refused:
        return
    kinds = sorted({kind for _, kind in refused})
    detail = (f"your roles at {ctx.facility} do not allow recording {', '.join(kinds)} "
              f"({', '.join(f'entries[{i}]' for i, _ in refused)}); nothing was recorded")
    try:  # its own transaction: the refusal is kept; a failing audit never turns it into a pass
        async with ctx.storage.transaction() as tx:
            for kind in kinds:
                await ctx.audit(tx, f"medcard.{kind}/record", patient=str(patient_id),  # no PINFL read
                                object="examination", outcome="denied:403", detail=detail[:500])
    except Exception:
        log.exception("could not audit a refused examination of patient %s", patient_id)
    raise Forbidden(detail, errors=[
        {"field": f"entries.{i}.kind", "pointer": f"#/entries/{i}/kind",
         "message": f"your roles do not allow record on medcard.{kind}"} for i, kind in refused])


class ExaminationController(Controller):
    path = "/patients/{patient_id:uuid}/examinations"
    opt = requires("medcard.examination", "record")

    @post("/", summary="Record an examination: several entries of any kind, in one transaction")
    async def record(self, ctx: Ctx, patient_id: Id, data: JSONBody[ExaminationIn]) -> Examination:
        """Record 1 to 50 entries (each with its ``kind``) at once: all or nothing. Each needs its
        kind's permission (403 naming the entries otherwise); one bad entry is a 422 (or 409) whose
        errors point at it (``entries.2.value``), and nothing is written."""
        await admit(ctx, patient_id, data)
        by, late = author(ctx), late_after(ctx)

        async def unit(tx: Transaction) -> Examination:
            async with ctx.audit_batch(tx) as audit:  # every entry's audit entry, appended at once
                return await examinations.record(tx, patient_id, data.entries, by=by, late_after=late,
                                                 audit=audit)

        return await ctx.transact(unit)
