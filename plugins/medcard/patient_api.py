"""The medcard module's part of the patient's own record, for the patient app (DMED).

Mounted under ``/api/v1/patient``. Every handler finds the card through ``ctx.patient`` (the
caller's PINFL) only; no path or query parameter names a patient, so none can point elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import get
from litestar.params import FromQuery, Parameter

from host.pluginapi import Ctx, own_record
from plugins.medcard import patient_views as views
from plugins.medcard import timeline
from plugins.medcard.schema import TimelinePage

Kind = Literal["indicator", "diagnosis", "lab", "instrumental", "complaint", "finding",
               "prescription", "outpatient_visit", "inpatient_stay"]
SeriesName = Literal["blood_pressure", "pulse", "temperature", "respiratory_rate", "spo2", "height",
                     "weight", "glucose", "bmi"]


@get("/card", opt=own_record("medcard.card"), summary="My medical card")
async def card(ctx: Ctx) -> views.MyCard:
    """Demographics, diagnoses, the latest reading of each vital sign and the newest results."""
    async with ctx.storage.transaction() as tx:
        me = await views.own_patient(tx, ctx.patient)
        all_series = await views.series(tx, me.id)
        found = views.MyCard(patient=me, diagnoses=await views.diagnoses(tx, me.id),
                             latest_indicators=views.latest(all_series),
                             results=await views.results(tx, me.id))
        await ctx.audit(tx, "medcard.card/read", patient=ctx.patient, object=str(me.id), detail="patient app")
        return found


@get("/card/indicators", opt=own_record("medcard.card"), summary="My vital signs over time")
async def indicators(ctx: Ctx, name: FromQuery[SeriesName | None] = None,
                     since: FromQuery[datetime | None] = None,
                     until: FromQuery[datetime | None] = None) -> list[views.Series]:
    """One series per vital sign (or only ``name``), points oldest first; ``until`` is exclusive."""
    views.check_aware(since=since, until=until)
    async with ctx.storage.transaction() as tx:
        me = await views.own_patient(tx, ctx.patient)
        found = await views.series(tx, me.id, name=name, since=since, until=until)
        await ctx.audit(tx, "medcard.card/read", patient=ctx.patient, object=str(me.id),
                        detail="patient app: indicator series")
        return found


@get("/history", opt=own_record("medcard.history"), summary="My medical history")
async def history(
    ctx: Ctx,
    kind: FromQuery[Kind | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    after: Annotated[str | None, Parameter(max_length=200)] = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
) -> TimelinePage:
    """The card's entries and the prescriptions, visits and stays of the other modules, newest
    first, a page at a time: pass ``next`` back as ``after``. Current versions of entries only."""
    async with ctx.storage.transaction() as tx:
        me = await views.own_patient(tx, ctx.patient)
        return await timeline.merged(tx, me.id, limit=limit, cursor=after, kind=kind, since=since,
                                     until=until, audit=ctx.audit)


HANDLERS: list[Any] = [card, indicators, history]
