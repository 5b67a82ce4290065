"""``POST /dispense-journal``: a pharmacist uploads their signed offline entries in one batch.

The upload answers 200 with one outcome per entry (accepted / conflict / refused, with the
reason), never failing the whole batch for one entry. Signatures are checked before the write
transaction; the reconciliation runs in one unit of work (re-run whole if it loses a race, when
already recorded entries are recognised again by their ids).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from litestar import Controller, post
from litestar.params import JSONBody

from core.clock import utcnow
from host.pluginapi import Ctx, requires
from plugins.erecipe import config, offline_journal, offline_reconcile, signing
from plugins.erecipe.offline_journal import JournalIn, JournalResult, Outcome
from ports.storage import Transaction


class JournalController(Controller):
    path = "/"

    @post("/dispense-journal", opt=requires("erecipe.dispensing", "upload_journal"), status_code=200)
    async def upload(self, ctx: Ctx, data: JSONBody[JournalIn]) -> JournalResult:
        """Upload the offline dispense journal (see docs/pharmacy.md for the signed entry form)."""
        principal, facility, now = ctx.principal, ctx.facility_id, utcnow()
        assert principal is not None
        settings: config.Settings = ctx.settings or config.Settings()
        window = timedelta(hours=settings.offline_window_hours)
        ids = [s.entry.entry_id for s in data.entries]
        async with ctx.storage.transaction(readonly=True) as tx:
            known = await offline_reconcile.recorded(tx, [UUID(i) for i in set(ids)])
        outcomes: dict[int, Outcome] = {}
        ready: list[tuple[int, offline_journal.Checked]] = []
        for n, signed in enumerate(data.entries):
            if ids.index(signed.entry.entry_id) != n:
                outcomes[n] = Outcome(entry_id=ids[n], outcome="refused", reason="sent twice in this upload")
            elif (done := known.get(UUID(ids[n]))) is not None:
                outcomes[n] = done
            else:
                checked = await offline_journal.check(signed, facility=facility, pinfl=principal.pinfl,
                                                      port=ctx.services[signing.SERVICE], now=now,
                                                      window=window)
                if isinstance(checked, str):
                    outcomes[n] = Outcome(entry_id=ids[n], outcome="refused", reason=checked)
                else:
                    ready.append((n, checked))
        ready.sort(key=lambda item: (item[1].at, item[1].id))

        async def work(tx: Transaction) -> dict[int, Outcome]:
            again = await offline_reconcile.recorded(tx, [c.id for _, c in ready])
            return {n: again.get(c.id) or await offline_reconcile.reconcile(
                tx, c, by=principal.id, now=now, audit=ctx.audit) for n, c in ready}
        if ready:
            outcomes |= await ctx.transact(work)
        listed = [outcomes[n] for n in range(len(data.entries))]
        count = {k: sum(o.outcome == k for o in listed) for k in ("accepted", "conflict", "refused")}
        return JournalResult(accepted=count["accepted"], conflicts=count["conflict"],
                             refused=count["refused"], entries=listed)
