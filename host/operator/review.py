"""The yearly access review (user inventory): who holds which role where, and is it still right.

A user's access is certified grant by grant; the user's certification date is the oldest among
their live grants (a grant never certified counts from when it was granted). It lapses after
``certification_days`` (365): flagged ``review_warning_days`` before, then suspended by
:func:`enforce` when ``auto_suspend`` is on. Last sign-in and last activity come from the audit
trail, which the host owns; credential-sharing flags come from the identity port.

Conflicts: a decision first locks its open campaign (:func:`_hold_open`), closing is conditioned on
``closed_at IS NULL``, and revoking on the grant being live, so no decision lands in a closed
campaign and a grant is revoked once. Lock order: the campaign, then the grant.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import func, select

from core import clock
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import new_id
from host import audit
from host.audit import audit_log
from host.operator.config import OperatorConfig
from host.operator.tables import grant_certifications, review_campaigns, review_decisions
from ports.identity import Identity, Qualification
from ports.storage import Transaction


class GrantLine(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    facility: str
    role: str
    qualification: Qualification | None
    granted_at: datetime
    certified_at: datetime | None


class UserLine(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    login: str
    full_name: str
    kind: str
    status: str
    grants: list[GrantLine]
    last_login: datetime | None
    last_activity: datetime | None
    certification_due: datetime | None
    flags: list[str]  # review_due | certification_lapsed | inactive | credential_sharing


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    title: str
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    campaign: UUID
    account: UUID
    login: str
    grant: UUID
    facility: str
    role: str
    decision: str
    comment: str
    by: str
    at: datetime


async def inventory(tx: Transaction, identity: Identity, cfg: OperatorConfig,
                    now: datetime | None = None) -> list[UserLine]:
    now = now or clock.utcnow()
    logins = dict((await tx.execute(select(audit_log.c.login, func.max(audit_log.c.at)).where(
        audit_log.c.action == "auth/login",
        audit_log.c.outcome == "ok").group_by(audit_log.c.login))).all())
    active = dict((await tx.execute(select(audit_log.c.actor, func.max(audit_log.c.at))
                                    .where(audit_log.c.actor.is_not(None))
                                    .group_by(audit_log.c.actor))).all())
    certified = dict((await tx.execute(select(grant_certifications.c.grant,
                                              grant_certifications.c.certified_at))).all())
    sharing = {f.account for f in await identity.flags(tx=tx)}
    out = []
    for acc in await identity.accounts(tx=tx):
        if acc.kind == "patient":
            continue
        grants = [GrantLine(id=g.id, facility=g.facility, role=g.role, qualification=g.qualification,
                            granted_at=g.granted_at, certified_at=certified.get(g.id))
                  for g in await identity.grants(acc.id, tx=tx) if g.revoked_at is None]
        since = min((g.certified_at or g.granted_at for g in grants), default=None)
        due = since + timedelta(days=cfg.certification_days) if since else None
        last_login = logins.get(acc.login)
        flags = []
        if due is not None and acc.status == "active":
            if now > due:
                flags.append("certification_lapsed")
            elif now >= due - timedelta(days=cfg.review_warning_days):
                flags.append("review_due")
        if (last_login or acc.created_at) < now - timedelta(days=cfg.inactive_days):
            flags.append("inactive")
        if acc.id in sharing:
            flags.append("credential_sharing")
        out.append(UserLine(id=acc.id, login=acc.login, full_name=acc.full_name, kind=acc.kind,
                            status=acc.status, grants=grants, last_login=last_login,
                            last_activity=active.get(str(acc.id)), certification_due=due, flags=flags))
    return out


async def open_campaign(tx: Transaction, title: str, by: str, entry: audit.AuditEntry) -> Campaign:
    c = Campaign(id=new_id(), title=title, opened_at=clock.utcnow(), opened_by=by)
    await tx.execute(review_campaigns.insert().values(msgspec.structs.asdict(c)))
    await audit.record(tx, msgspec.structs.replace(entry, object=str(c.id), detail=title))
    return c


async def campaign(tx: Transaction, campaign_id: UUID) -> Campaign:
    row = (await tx.execute(select(review_campaigns).where(review_campaigns.c.id == campaign_id))).first()
    if row is None:
        raise NotFound(f"no review campaign {campaign_id}")
    return Campaign(**row._asdict())


async def decide(tx: Transaction, identity: Identity, campaign_id: UUID, grant_id: UUID, decision: str,
                 comment: str, by: str, entry: audit.AuditEntry) -> Decision:
    """Certify or revoke one grant within an open campaign; the decision and its audit entry commit
    together with the revocation."""
    if decision not in ("certify", "revoke"):
        raise ValidationFailed("decide certify or revoke",
                               errors=[{"field": "decision", "message": "certify or revoke"}])
    await _hold_open(tx, campaign_id)
    grant = await _grant(tx, identity, grant_id)
    if grant[1].revoked_at is not None:
        raise Conflict("the grant is already revoked")
    now = clock.utcnow()
    account, g = grant
    if decision == "revoke":
        await identity.revoke(grant_id, tx=tx)
    else:
        await tx.execute(grant_certifications.delete().where(grant_certifications.c.grant == grant_id))
        await tx.execute(grant_certifications.insert().values(
            grant=grant_id, account=g.account, certified_at=now, certified_by=by))
    d = Decision(campaign=campaign_id, account=g.account, login=account.login, grant=grant_id,
                 facility=g.facility, role=g.role, decision=decision, comment=comment, by=by, at=now)
    await tx.execute(review_decisions.insert().values(
        id=new_id(), campaign=campaign_id, account=g.account, grant=grant_id, decision=decision,
        comment=comment, by=by, at=now))
    await audit.record(tx, msgspec.structs.replace(
        entry, object=str(grant_id), facility=g.facility,
        detail=f"{decision} {account.login} {g.role}@{g.facility}: {comment}"))
    return d


async def _grant(tx: Transaction, identity: Identity, grant_id: UUID) -> tuple[Any, Any]:
    for acc in await identity.accounts(tx=tx):
        for g in await identity.grants(acc.id, tx=tx):
            if g.id == grant_id:
                return acc, g
    raise NotFound(f"no grant {grant_id}")


async def _hold_open(tx: Transaction, campaign_id: UUID) -> None:
    """Lock the open campaign until the transaction ends (a no-op UPDATE on ``closed_at IS NULL``):
    a decision and the campaign's closing never overlap. 404 or 409 if it is not open."""
    held = await tx.execute(review_campaigns.update().where(
        review_campaigns.c.id == campaign_id, review_campaigns.c.closed_at.is_(None))
        .values(title=review_campaigns.c.title))
    if held.rowcount != 1:
        await campaign(tx, campaign_id)  # 404 if there is none
        raise Conflict("the campaign is closed")


async def close(tx: Transaction, campaign_id: UUID, entry: audit.AuditEntry) -> Campaign:
    """Idempotent: closing a closed campaign answers it as it is."""
    closed = await tx.execute(review_campaigns.update().where(
        review_campaigns.c.id == campaign_id, review_campaigns.c.closed_at.is_(None))
        .values(closed_at=clock.utcnow()))
    if closed.rowcount == 1:
        await audit.record(tx, msgspec.structs.replace(entry, object=str(campaign_id)))
    return await campaign(tx, campaign_id)


async def evidence(tx: Transaction, identity: Identity, campaign_id: UUID) -> list[Decision]:
    await campaign(tx, campaign_id)
    logins = {a.id: a for a in await identity.accounts(tx=tx)}
    grants = {g.id: g for a in logins for g in await identity.grants(a, tx=tx)}
    rows = await tx.execute(select(review_decisions).where(review_decisions.c.campaign == campaign_id)
                            .order_by(review_decisions.c.at))
    return [Decision(campaign=r.campaign, account=r.account, login=logins[r.account].login, grant=r.grant,
                     facility=grants[r.grant].facility, role=grants[r.grant].role, decision=r.decision,
                     comment=r.comment, by=r.by, at=r.at) for r in rows]


def evidence_csv(decisions: list[Decision]) -> str:
    import csv
    import io

    buf = io.StringIO()
    fields = list(Decision.__struct_fields__)
    writer = csv.writer(buf)
    writer.writerow(fields)
    for d in decisions:
        values = [getattr(d, f) for f in fields]
        writer.writerow([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return buf.getvalue()


async def enforce(tx: Transaction, identity: Identity, cfg: OperatorConfig, entry: audit.AuditEntry,
                  now: datetime | None = None) -> list[str]:
    """Suspend active users whose certification lapsed (when ``auto_suspend``); returns their logins."""
    if not cfg.auto_suspend:
        return []
    suspended = []
    for user in await inventory(tx, identity, cfg, now):
        if "certification_lapsed" in user.flags:
            try:
                await identity.set_status(user.id, "suspended", tx=tx)
            except Conflict:  # suspended meanwhile (another process's enforcer): nothing to do
                continue
            await audit.record(tx, msgspec.structs.replace(
                entry, object=str(user.id), detail=f"{user.login}: certification lapsed on "
                f"{user.certification_due}"))
            suspended.append(user.login)
    return suspended
