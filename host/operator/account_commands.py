"""``shifo accounts``: the operator's account and grant management at a terminal.

The same changes as the admin API (``/api/v1/admin``), through the same identity port, each
committed together with its audit entry (recorded as done by the login given in ``--by``). A change
the identity port refuses (a grant without its qualification, an unknown login) is one line on
stderr and exit 1, and nothing is written.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from typing import Any
from uuid import UUID

import msgspec

from core.errors import NotFound
from host import audit
from host.console import opened, password, print_json, table
from host.settings import Settings

STATUS = {"suspend": "suspended", "reactivate": "active", "deactivate": "deactivated"}


def add_parsers(sub: Any) -> None:
    acc = sub.add_parser("accounts", help="accounts and grants (operators)").add_subparsers(
        dest="accounts_command", required=True, metavar="action")
    acc.add_parser("list", help="every account with its status and live grants").add_argument(
        "--json", action="store_true", help="one JSON document instead of the table")
    new = acc.add_parser("create", help="a personal account (password from SHIFO_NEW_PASSWORD or asked)")
    new.add_argument("login")
    new.add_argument("--name", required=True, help="full name")
    new.add_argument("--kind", choices=("staff", "operator", "patient"), default="staff")
    new.add_argument("--pinfl")
    for action in STATUS:
        p = acc.add_parser(action, help=f"{action} an account (sign-in sessions end at once)")
        p.add_argument("login")
    g = acc.add_parser("grant", help="grant a role at a facility, with the qualification behind it")
    g.add_argument("login")
    g.add_argument("--facility", required=True)
    g.add_argument("--role", required=True)
    g.add_argument("--qualification", required=True, help="diploma or licence number")
    g.add_argument("--issuer", required=True, help="issuing body")
    g.add_argument("--issued", required=True, type=date.fromisoformat, help="date, YYYY-MM-DD")
    g.add_argument("--education", help="pharmaceutical education (required for pharmacist)")
    r = acc.add_parser("revoke", help="revoke a grant by its id")
    r.add_argument("grant_id", type=UUID)
    for p in acc.choices.values():
        p.add_argument("--by", default=os.environ.get("USER", "cli"), help="who does it (audited)")


async def _account_id(rt: Any, tx: Any, login: str) -> UUID:
    for acc in await rt.identity.accounts(tx=tx):
        if acc.login == login:
            return acc.id  # type: ignore[no-any-return]
    raise NotFound(f"no account {login!r}")


async def cmd_accounts(settings: Settings, args: argparse.Namespace) -> int:
    action = args.accounts_command
    entry = audit.AuditEntry(action=f"admin.account/{action}", login=args.by, role="operator",
                             client="cli")
    async with opened(settings) as rt, rt.storage.transaction() as tx:
        if action == "list":
            return await _list(rt, tx, args)
        if action == "create":
            secret = password("SHIFO_NEW_PASSWORD", f"password for {args.login}: ")
            target = await rt.identity.create_account(login=args.login, password=secret, kind=args.kind,
                                                     full_name=args.name, pinfl=args.pinfl, tx=tx)
        elif action in STATUS:
            target = await _account_id(rt, tx, args.login)
            await rt.identity.set_status(target, STATUS[action], tx=tx)
        elif action == "grant":
            target = await rt.identity.grant(
                await _account_id(rt, tx, args.login), args.facility, args.role,
                qualification_number=args.qualification, qualification_issuer=args.issuer,
                qualification_date=args.issued, education=args.education, tx=tx)
        else:
            target = (await rt.identity.revoke(args.grant_id, tx=tx)).id
        await audit.record(tx, msgspec.structs.replace(entry, object=str(target)))
    print(f"{action}: done ({target})")
    return 0


async def _list(rt: Any, tx: Any, args: argparse.Namespace) -> int:
    listed = [(acc, [g for g in await rt.identity.grants(acc.id, tx=tx) if g.revoked_at is None])
              for acc in await rt.identity.accounts(tx=tx)]
    if args.json:
        print_json([{"id": str(acc.id), "login": acc.login, "kind": acc.kind, "status": acc.status,
                     "full_name": acc.full_name, "grants": [
                         {"id": str(g.id), "role": g.role, "facility": g.facility} for g in grants]}
                    for acc, grants in listed])
        return 0
    print(table(("login", "kind", "status", "name", "grants"), [
        (acc.login, acc.kind, acc.status, acc.full_name, " ".join(f"{g.role}@{g.facility}" for g in grants))
        for acc, grants in listed]))
    return 0


COMMANDS = {"accounts": cmd_accounts}
