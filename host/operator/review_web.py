"""Operator routes for the yearly access review: the user inventory, campaigns, per-grant
decisions, enforcement of lapsed certifications and the evidence export (CSV or JSON)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from host import audit
from host.operator import config, review
from host.pluginapi import requires
from host.runtime import Runtime
from host.web.guard import client_of
from ports.conflicts import run_unit

Req = Request[Any, Any, Any]
READ = requires("operator.review", "read", principal="operator", facility_scoped=False)
MANAGE = requires("operator.review", "manage", principal="operator", facility_scoped=False)


def runtime(request: Req) -> Runtime:
    """The deployment's runtime (shared with the console's review pages)."""
    return request.app.state.runtime  # type: ignore[no-any-return]


def entry(request: Req, action: str) -> audit.AuditEntry:
    """The ``operator.review/<action>`` audit entry of this request: the console's pages record the
    very same one, so an auditor sees one trail whichever door the operator used."""
    state = request.scope.get("state", {})
    return audit.entry(state.get("principal"), f"operator.review/{action}",
                       request_id=state.get("request_id"), client=client_of(request))


def who(request: Req) -> str:
    """The signed-in operator's login, recorded as the reviewer."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.login if principal else "?"


class NewCampaign(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class DecisionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grant: UUID
    decision: Annotated[str, msgspec.Meta(pattern=r"^(certify|revoke)$")]
    comment: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


@get("/review/users", opt=READ)
async def users(request: Req) -> list[review.UserLine]:
    """Every user with roles per facility, qualification, last sign-in, last activity and flags."""
    rt = runtime(request)
    async with rt.storage.transaction() as tx:  # a write unit: the read is audited
        lines = await review.inventory(tx, rt.identity, config.of(rt.settings))
        await audit.record(tx, msgspec.structs.replace(entry(request, "users"), object="inventory"))
        return lines


@post("/review/campaigns", opt=MANAGE, status_code=201)
async def open_campaign(request: Req, data: JSONBody[NewCampaign]) -> review.Campaign:
    """Open a yearly access-review campaign; audited."""
    return await run_unit(runtime(request).storage, lambda tx: review.open_campaign(
        tx, data.title, who(request), entry(request, "open")))


@post("/review/campaigns/{cid:uuid}/decisions", opt=MANAGE, status_code=201)
async def decide(request: Req, cid: FromPath[UUID], data: JSONBody[DecisionIn]) -> review.Decision:
    """Certify or revoke one grant in an open campaign (a revoke takes effect at once); audited."""
    rt = runtime(request)
    return await run_unit(rt.storage, lambda tx: review.decide(  # re-run whole if it loses a race
        tx, rt.identity, cid, data.grant, data.decision, data.comment, who(request),
        entry(request, data.decision)))


@post("/review/campaigns/{cid:uuid}/close", opt=MANAGE, status_code=200)
async def close(request: Req, cid: FromPath[UUID]) -> review.Campaign:
    """Close a campaign (closing a closed one answers it as it is); audited."""
    return await run_unit(runtime(request).storage, lambda tx: review.close(tx, cid, entry(request, "close")))


@get("/review/campaigns/{cid:uuid}/evidence", opt=READ)
async def evidence(request: Req, cid: FromPath[UUID], format: FromQuery[str] = "json") -> Response[Any]:
    """Who reviewed what, when, and the decision: ``?format=csv`` or ``json``."""
    rt = runtime(request)
    async with rt.storage.transaction() as tx:  # a write unit: the read is audited
        found = await review.evidence(tx, rt.identity, cid)
        await audit.record(tx, msgspec.structs.replace(entry(request, "evidence"), object=str(cid)))
    if format == "csv":
        return Response(review.evidence_csv(found), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="review-{cid}.csv"'})
    return Response(msgspec.json.encode(found), media_type="application/json")


@post("/review/enforce", opt=MANAGE, status_code=200)
async def enforce(request: Req) -> dict[str, list[str]]:
    """Suspend users whose certification lapsed (when configured); run daily, e.g. from cron."""
    rt = runtime(request)
    done = await run_unit(rt.storage, lambda tx: review.enforce(tx, rt.identity, config.of(rt.settings),
                                                                entry(request, "suspend")))
    return {"suspended": done}


routes = [users, open_campaign, decide, close, evidence, enforce]
