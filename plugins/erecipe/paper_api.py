"""``POST /prescriptions/paper``: the prescriber registers a paper prescription written during an
outage (see ``paper.py`` and docs/pharmacy.md). The signature is verified before the write
transaction, as of ``written_at``; the answer is the issued prescription (201)."""

from __future__ import annotations

from datetime import timedelta

from litestar import Controller, post
from litestar.params import JSONBody

from core.clock import utcnow
from host.pluginapi import Ctx
from plugins.erecipe import config, issuing, paper, signing, views
from plugins.erecipe.api import PRESCRIBE, categories, prescriber
from plugins.erecipe.paper import SignedPaperIn
from plugins.erecipe.schema import Prescription
from ports.directory import SERVICE as DIRECTORY
from ports.storage import Transaction


class PaperController(Controller):
    path = "/prescriptions/paper"

    @post("/", opt=PRESCRIBE)
    async def register(self, ctx: Ctx, data: JSONBody[SignedPaperIn]) -> Prescription:
        """Register a paper prescription, signed over ``canonical_json(order)`` when it was written."""
        who, now = prescriber(ctx), utcnow()
        settings: config.Settings = ctx.settings or config.Settings()
        ok = paper.accept(data, who, categories(ctx), now, timedelta(hours=settings.paper_window_hours))
        verdict = await signing.verify(ctx.services, ok.canonical, data.signature, pinfl=who.pinfl, now=now,
                                       made=ok.written_at)
        signature = signing.decode(data.signature)
        directory = ctx.services.get(DIRECTORY)

        async def work(tx: Transaction) -> Prescription:
            row, on_card = await paper.register(tx, ok, who, verdict, signature, now, directory)
            await ctx.audit(tx, "erecipe.prescription/issue", patient=row["patient_pinfl"], object=str(ok.id),
                            detail=f"paper prescription {ok.paper_number}, written {data.order.written_at}")
            return views.just_issued(row, verification=verdict, on_card=on_card, now=now, history=[
                views.step(row["issued_at"], "issued", who.id, issuing.issued_detail(verdict))])
        return await ctx.transact(work)
