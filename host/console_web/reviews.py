"""Console pages for the yearly access review: the current campaign's progress per facility, the
users whose certification lapses soon, certify or revoke (one grant or a checked list, always with
a reason) and the campaign's evidence as a download.

Every action is the service call of the JSON routes (``host/operator/review_web.py``) with their
audit entry; a bulk decision is one unit, so a conflict on any grant leaves none decided. Only
accounts, roles and facilities are shown: no clinical data, no PINFL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select

from core.errors import ValidationFailed
from host import audit
from host.console_web.pages import Req, form, op, page, redirect
from host.operator import config, review
from host.operator.review_web import entry, runtime, who  # the JSON routes' audit entry, to the letter
from host.operator.tables import review_campaigns
from ports.conflicts import run_unit
from ports.storage import Transaction

READ, MANAGE = op("review", "read"), op("review", "manage")
HOME = "/console/reviews"


async def _current(tx: Transaction) -> review.Campaign | None:
    """The campaign being worked on: the newest open one, else the newest closed one."""
    rows = (await tx.execute(select(review_campaigns).order_by(review_campaigns.c.opened_at.desc()))).all()
    found = [review.Campaign(**r._asdict()) for r in rows]
    return next((c for c in found if c.closed_at is None), found[0] if found else None)


def _progress(users: list[review.UserLine], decided: list[review.Decision]) -> list[dict[str, Any]]:
    """Per facility: the grants decided in the campaign out of those plus the live ones waiting."""
    done = {d.grant for d in decided}
    decided_at = Counter(d.facility for d in decided)
    waiting = Counter(g.facility for u in users for g in u.grants if g.id not in done)
    out = []
    for facility in sorted(set(decided_at) | set(waiting)):
        total = decided_at[facility] + waiting[facility]
        out.append({"facility": facility, "decided": decided_at[facility], "total": total,
                    "percent": round(100 * decided_at[facility] / total)})
    return out


@get("/reviews", opt=READ, include_in_schema=False)
async def reviews(request: Req) -> Template:
    """The campaign and its progress, the users lapsing soon, and every live grant to decide on."""
    rt = runtime(request)
    cfg = config.of(rt.settings)
    async with rt.storage.transaction() as tx:  # a write unit: the read is audited like the API's
        users = await review.inventory(tx, rt.identity, cfg)
        await audit.record(tx, msgspec.structs.replace(entry(request, "users"), object="inventory"))
        current = await _current(tx)
        decided = await review.evidence(tx, rt.identity, current.id) if current else []
    lapsing = [u for u in users if {"review_due", "certification_lapsed"} & set(u.flags)]
    lapsing.sort(key=lambda u: (u.certification_due is None, u.certification_due, u.login))
    return page(request, "reviews.html.j2", nav="reviews", campaign=current, users=users,
                lapsing=lapsing, warning_days=cfg.review_warning_days,
                progress=_progress(users, decided) if current else [],
                decided={d.grant: d.decision for d in decided})


@post("/reviews/campaigns", opt=MANAGE, include_in_schema=False)
async def open_campaign(request: Req) -> Redirect:
    data = await form(request)
    title = str(data.get("title") or "").strip()
    if not 0 < len(title) <= 300:
        raise ValidationFailed("a campaign needs a title of 1 to 300 characters",
                               errors=[{"field": "title", "message": "1 to 300 characters"}])
    await run_unit(runtime(request).storage, lambda tx: review.open_campaign(
        tx, title, who(request), entry(request, "open")))
    return redirect(HOME, "Campaign opened.")


def _asked(data: Any) -> tuple[list[tuple[UUID, str]], str]:
    """The grants and decisions a form asks for: one row's button (``one`` = grant:decision) or the
    checked ``grant`` boxes with the bulk ``decision``; a reason is required either way."""
    comment = str(data.get("comment") or "").strip()
    if not 0 < len(comment) <= 500:
        raise ValidationFailed("a decision needs a reason of 1 to 500 characters",
                               errors=[{"field": "comment", "message": "1 to 500 characters"}])
    try:
        if data.get("one"):
            grant, _, decision = str(data.get("one")).partition(":")
            asked = [(UUID(grant), decision)]
        else:
            decision = str(data.get("decision") or "")
            asked = [(UUID(str(g)), decision) for g in dict.fromkeys(data.getall("grant", []))]
    except ValueError:
        raise ValidationFailed("unknown grant",
                               errors=[{"field": "grant", "message": "a grant id"}]) from None
    if not asked:
        raise ValidationFailed("check at least one grant",
                               errors=[{"field": "grant", "message": "none checked"}])
    if decision not in ("certify", "revoke"):
        raise ValidationFailed("decide certify or revoke",
                               errors=[{"field": "decision", "message": "certify or revoke"}])
    return asked, comment


@post("/reviews/campaigns/{cid:uuid}/decisions", opt=MANAGE, include_in_schema=False)
async def decide(request: Req, cid: FromPath[UUID]) -> Redirect:
    asked, comment = _asked(await form(request))
    rt = runtime(request)

    async def unit(tx: Transaction) -> None:  # all or none; run_unit re-runs it whole after a lost race
        for grant, decision in asked:
            await review.decide(tx, rt.identity, cid, grant, decision, comment, who(request),
                                entry(request, decision))

    await run_unit(rt.storage, unit)
    return redirect(HOME, "Decision recorded." if len(asked) == 1 else "Decisions recorded.")


@post("/reviews/campaigns/{cid:uuid}/close", opt=MANAGE, include_in_schema=False)
async def close(request: Req, cid: FromPath[UUID]) -> Redirect:
    await form(request)
    await run_unit(runtime(request).storage, lambda tx: review.close(tx, cid, entry(request, "close")))
    return redirect(HOME, "Campaign closed.")


@get("/reviews/campaigns/{cid:uuid}/evidence.csv", opt=READ, include_in_schema=False)
async def evidence(request: Req, cid: FromPath[UUID]) -> Response[str]:
    """The API's CSV export (``GET .../evidence?format=csv``) with the same audit entry."""
    rt = runtime(request)
    async with rt.storage.transaction() as tx:  # a write unit: the read is audited
        found = await review.evidence(tx, rt.identity, cid)
        await audit.record(tx, msgspec.structs.replace(entry(request, "evidence"), object=str(cid)))
    return Response(review.evidence_csv(found), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="review-{cid}.csv"'})


HANDLERS = [reviews, open_campaign, decide, close, evidence]
